/** `<folio-status>`: what happens to the student's work: saving, saved, offline with n kept, log in to save. */
import { bookFor, plural, type Book } from './core.js';
import type { SyncEvent } from '../folio.js';

const changes = (n: number) => plural(n, 'change');

export function statusText(event: SyncEvent): string {
  switch (event.type) {
    case 'saving':
      return 'Saving…';
    case 'saved':
      return 'All work saved';
    case 'retrying':
      return event.reason === 'offline'
        ? `Offline: ${changes(event.pending)} kept in this browser, sent when you are back online`
        : `Folio is not answering: ${changes(event.pending)} kept, trying again in ${Math.ceil(event.retryInMs / 1000)} s`;
    case 'paused':
      return `Log in to save: ${changes(event.pending)} waiting`;
    case 'rejected':
      return `Not saved: ${event.error.message}`;
  }
}

export class FolioStatusElement extends HTMLElement {
  #book: Book | null = null;
  #stop: (() => void) | null = null;

  connectedCallback(): void {
    this.#book ??= bookFor(this);
    this.setAttribute('role', 'status');
    this.setAttribute('aria-live', 'polite');
    const folio = this.#book.folio;
    if (!folio) {
      this.#show('error', 'Not saving: this page is not set up (see the console)');
      return;
    }
    this.#stop?.();
    this.#stop = folio.on('sync', (event) => this.#show(event.type === 'retrying' && event.reason === 'offline' ? 'offline' : event.type, statusText(event)));
    if (folio.pendingWrites > 0) this.#show('pending', `${changes(folio.pendingWrites)} waiting to be sent`);
    else if (!this.dataset.state) this.#show('idle', '');
  }

  disconnectedCallback(): void {
    this.#stop?.();
    this.#stop = null;
  }

  #show(state: string, text: string): void {
    this.dataset.state = state;
    this.textContent = text;
  }
}

if (!customElements.get('folio-status')) customElements.define('folio-status', FolioStatusElement);
