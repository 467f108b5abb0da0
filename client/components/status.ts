/**
 * `<folio-status>`: what happens to the student's work: saving, saved, offline with n kept, log in to save; and when
 * the page could not load the student's work (Folio unreachable, the book unknown), that.
 */
import { bookFor, plural, type Book, type Loaded, type Member } from './core.js';
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

export class FolioStatusElement extends HTMLElement implements Member {
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
    this.#book.join(this);
  }

  disconnectedCallback(): void {
    this.#stop?.();
    this.#stop = null;
    this.#book?.leave(this);
  }

  /** After each load of the page state: says when the work could not be loaded, and stops saying it once it was. */
  restore(loaded: Loaded): void {
    if (!this.#book?.folio) return;
    if (loaded.error) this.#show('error', `Could not load your work: ${loaded.error.message}`);
    else if (this.dataset.state === 'error') this.#show('idle', '');
  }

  #show(state: string, text: string): void {
    this.dataset.state = state;
    this.textContent = text;
  }
}

if (!customElements.get('folio-status')) customElements.define('folio-status', FolioStatusElement);
