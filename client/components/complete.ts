/**
 * `<folio-complete [page]>`: "I have finished this page", a checkbox. Its content, if any, is the label. `page`
 * defaults to the book's page id, whose completion comes with the page state; one naming another page asks Folio
 * for the completed pages (one more request).
 */
import { FolioElement, h, validId, type Loaded } from './core.js';

export class FolioCompleteElement extends FolioElement {
  #box!: HTMLInputElement;
  #live!: HTMLElement;

  get page(): string {
    return this.getAttribute('page') ?? this.book.page;
  }

  protected check(): boolean {
    const page = this.getAttribute('page');
    if (page !== null && !validId(page)) {
      this.book.mistake(this, `<folio-complete page="${page}">: a page id is 1-128 characters of A-Z a-z 0-9 . _ : / -`);
      return false;
    }
    return true;
  }

  protected build(): void {
    this.#box = h('input', { type: 'checkbox' });
    const content = [...this.childNodes].filter((node) => !(node instanceof Element && node.classList.contains('folio-mistake')));
    const text = h('span', {}, ...(content.some((node) => node.textContent?.trim()) ? content : ['I have finished this page']));
    this.#live = h('span', { class: 'folio-feedback', role: 'status', 'aria-live': 'polite' });
    this.append(h('label', {}, this.#box, ' ', text), ' ', this.#live);
    this.#box.addEventListener('change', () => void this.#submit());
  }

  async #submit(): Promise<void> {
    const complete = this.#box.checked;
    this.dataset.state = complete ? 'complete' : 'new';
    if (!this.saves) {
      this.#live.textContent = 'Not saved: authoring mistake (see the console).';
      return;
    }
    const result = await this.book.save((folio) => folio.markComplete(this.page, complete));
    this.#live.textContent = result.status === 'saved' ? 'Saved.' : result.status === 'pending' ? 'Kept in this browser.' : `Not saved: ${result.message}`;
  }

  restore(loaded: Loaded): void {
    this.#live.textContent = '';
    if (!this.saves || loaded.error) return;
    if (this.page === this.book.page) return this.#show(loaded.state.completedAt !== null);
    void this.book.progress().then(
      (progress) => this.#show(progress.completed.some((c) => c.page === this.page)),
      () => {},
    );
  }

  #show(complete: boolean): void {
    this.#box.checked = complete;
    this.dataset.state = complete ? 'complete' : 'new';
  }
}

if (!customElements.get('folio-complete')) customElements.define('folio-complete', FolioCompleteElement);
