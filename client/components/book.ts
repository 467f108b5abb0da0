/** `<folio-book server book [page] [auth] [mistakes]>`: the page's book; the elements inside it find it. */
import { bookFor, type Book } from './core.js';

export class FolioBookElement extends HTMLElement {
  #book: Book | null = null;

  connectedCallback(): void {
    this.#book ??= bookFor(this);
  }

  /** The page's Folio client (null when the attributes are wrong): for the page's own scripts and the console. */
  get folio() {
    return (this.#book ??= bookFor(this)).folio;
  }

  /** The page id the elements save under. */
  get page(): string {
    return (this.#book ??= bookFor(this)).page;
  }
}

if (!customElements.get('folio-book')) customElements.define('folio-book', FolioBookElement);
