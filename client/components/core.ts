/**
 * What every element shares: the book of the page (one Folio client, one page-state request for all its elements),
 * the base class of the elements, and the report of authoring mistakes.
 */
import { Folio, type LatestAnswer, type PageState, type Program, type Progress, type User, type WriteResult } from '../folio.js';

export type { LatestAnswer, Program, User };

const idPattern = /^[A-Za-z0-9._:/-]{1,128}$/;

/** Whether an id (question, activity, page) is one Folio takes: 1-128 of A-Z a-z 0-9 . _ : / - */
export const validId = (id: string | null): id is string => id !== null && idPattern.test(id);

/**
 * A page's id when `<folio-book>` names none: its path without the leading `/` and `.html`, `index` for a folder
 * (`/ch1/intro.html` → `ch1/intro`, `/ch2/` → `ch2/index`), as LTI launches find pages.
 */
export function pageIdOf(pathname: string): string {
  let path = decodeURIComponent(pathname).replace(/^\/+/, '');
  if (path === '' || path.endsWith('/')) path += 'index';
  return path.replace(/\.html?$/, '');
}

/** Development: a page served from this machine or a test name, where mistakes are shown on the page too. */
function development(): boolean {
  const { protocol, hostname } = location;
  return protocol === 'file:' || /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/.test(hostname) || /\.(localhost|test|local)$/.test(hostname);
}

/** What the page's elements restore from: the one page-state reply (and the completed pages, when asked). */
export interface Loaded {
  state: PageState;
  user: User | null;
  /** Set when the work could not be loaded (Folio unreachable, the book unknown). */
  error?: Error;
}

/** An element of a book: restored once the page state is in, and again after a login or a logout. */
export interface Member extends HTMLElement {
  restore(loaded: Loaded): void;
}

let counter = 0;
/** An id for an element the script adds (labels, aria-describedby). */
export const uid = (prefix: string) => `folio-${prefix}-${++counter}`;

/** The book of one `<folio-book>` (or of a page without one): its client, its page id, its elements. */
export class Book {
  readonly folio: Folio | null;
  readonly page: string;
  readonly root: HTMLElement;
  readonly showMistakes: boolean;
  readonly #members = new Set<Member>();
  readonly #ids = new Map<string, HTMLElement>();
  #loaded: Promise<Loaded> | null = null;
  #progress: Promise<Progress> | null = null;
  #generation = 0;
  #positioned = false;

  constructor(root: HTMLElement) {
    this.root = root;
    const mode = root.getAttribute('mistakes');
    this.showMistakes = mode === 'page' || (mode !== 'console' && development());
    const server = root.getAttribute('server');
    const book = root.getAttribute('book');
    const named = root.getAttribute('page');
    this.page = named ?? pageIdOf(location.pathname);
    let folio: Folio | null = null;
    if (!server || !book) {
      this.mistake(root, `<folio-book> needs server="https://folio.example.edu" and book="BOOK-ID" (got server=${JSON.stringify(server)}, book=${JSON.stringify(book)}): nothing on this page is saved`);
    } else {
      try {
        const auth = root.getAttribute('auth');
        folio = new Folio({ server, book, ...(auth === 'cookie' || auth === 'token' ? { auth } : {}) });
      } catch (err) {
        this.mistake(root, `${(err as Error).message}: nothing on this page is saved`);
      }
    }
    if (!validId(this.page)) this.mistake(root, `the page id ${JSON.stringify(this.page)} is not 1-128 characters of A-Z a-z 0-9 . _ : / -: give <folio-book> a page="…" attribute`);
    this.folio = validId(this.page) ? folio : null;
    this.folio?.on('auth', (event) => {
      if (event.type === 'login' || event.type === 'logout' || event.type === 'deleted') this.reload();
    });
  }

  /** Reports an authoring mistake: in the console always, and on the page in development. */
  mistake(element: HTMLElement, message: string): void {
    console.error(`Folio: ${message}`, element);
    element.dataset.folioMistake = message;
    if (!this.showMistakes) return;
    const note = document.createElement('p');
    note.className = 'folio-mistake';
    note.setAttribute('role', 'alert');
    note.textContent = `Authoring mistake (shown in development only): ${message}`;
    element.prepend(note);
  }

  /**
   * Takes an element in under an id of its kind (`question`, `activity`); reports a missing, invalid or duplicate
   * id and then returns false: such an element is shown but never saved.
   */
  claim(element: HTMLElement, kind: string, attribute: string): boolean {
    const id = element.getAttribute(attribute);
    const tag = element.localName;
    if (id === null || id === '') {
      this.mistake(element, `<${tag}> has no ${attribute}="…" attribute: its work cannot be saved. Give it an id unique in the book, e.g. ${attribute}="${kind === 'activity' ? 'ac1-1' : 'q1-1'}"`);
      return false;
    }
    if (!validId(id)) {
      this.mistake(element, `<${tag} ${attribute}="${id}">: an id is 1-128 characters of A-Z a-z 0-9 . _ : / - (no spaces): its work cannot be saved`);
      return false;
    }
    const key = `${kind}\u0000${id}`;
    const first = this.#ids.get(key);
    if (first && first !== element && first.isConnected) {
      this.mistake(element, `<${tag} ${attribute}="${id}"> repeats the ${attribute} of an element above it: each ${kind} needs its own id, or their work overwrites each other's. Rename one`);
      return false;
    }
    this.#ids.set(key, element);
    return true;
  }

  /** Adds an element: it is restored from the page's one state request (made once, on the first element). */
  join(member: Member): void {
    this.#members.add(member);
    void this.#load().then((loaded) => {
      if (this.#members.has(member)) member.restore(loaded);
    });
  }

  leave(member: Member): void {
    this.#members.delete(member);
  }

  /** The pages the student completed (a second request, made only for a `<folio-complete page>` naming another page). */
  progress(): Promise<Progress> {
    if (!this.folio) return Promise.resolve({ completed: [] });
    this.#progress ??= this.#load().then(() => this.folio!.progress());
    return this.#progress;
  }

  /** Saves through the client's outbox: resolves to the write's result, or a refusal's message. */
  async save<R>(write: (folio: Folio) => Promise<WriteResult<R>>): Promise<{ status: 'saved'; reply: R } | { status: 'pending' } | { status: 'unsaved'; message: string }> {
    if (!this.folio) return { status: 'unsaved', message: 'this page is not set up to save (see the console)' };
    try {
      return await write(this.folio);
    } catch (err) {
      return { status: 'unsaved', message: (err as Error).message };
    }
  }

  /** Restores every element again (after a login or a logout: the work on screen must be this student's). */
  reload(): void {
    this.#loaded = null;
    this.#progress = null;
    const generation = this.#generation;
    void this.#load().then((loaded) => {
      if (generation + 1 !== this.#generation) return;
      for (const member of this.#members) member.restore(loaded);
    });
  }

  #load(): Promise<Loaded> {
    if (this.#loaded) return this.#loaded;
    const generation = ++this.#generation;
    this.root.setAttribute('aria-busy', 'true');
    this.root.removeAttribute('data-ready');
    const folio = this.folio;
    const empty: PageState = { programs: {}, answers: {}, completedAt: null };
    this.#loaded = (async (): Promise<Loaded> => {
      if (!folio) return { state: empty, user: null };
      try {
        await folio.handoff;
        const state = await folio.pageState(this.page);
        return { state, user: folio.user };
      } catch (err) {
        return { state: empty, user: folio.user, error: err as Error };
      }
    })();
    void this.#loaded.then((loaded) => {
      // Elements restore in the same task (their .then came first): the page is ready after them.
      queueMicrotask(() => {
        if (generation !== this.#generation) return;
        this.root.removeAttribute('aria-busy');
        this.root.setAttribute('data-ready', '');
      });
      if (folio && !this.#positioned && loaded.user && !loaded.user.anonymous) {
        this.#positioned = true;
        folio.setPosition(this.page).catch(() => {});
      }
    });
    return this.#loaded;
  }
}

const books = new WeakMap<HTMLElement, Book>();
let pageBook: Book | null = null;

/** The book an element belongs to: its `<folio-book>` ancestor's, else the page's first `<folio-book>`, else one for the page. */
export function bookFor(element: HTMLElement): Book {
  const root = (element.localName === 'folio-book' ? element : element.closest<HTMLElement>('folio-book')) ?? document.querySelector<HTMLElement>('folio-book');
  if (!root) {
    if (!pageBook) {
      pageBook = new Book(document.body);
      pageBook.mistake(element, 'this page has no <folio-book server="…" book="…"> around its content: nothing is saved');
    }
    return pageBook;
  }
  let book = books.get(root);
  if (!book) {
    book = new Book(root);
    books.set(root, book);
    if (!pageBook) {
      pageBook = book;
      book.folio?.log('page:view', { page: book.page });
    }
  }
  return book;
}

/** Makes an element: `h('button', {type: 'button', class: 'x'}, 'Check')`. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Record<string, string | boolean> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false) continue;
    element.setAttribute(name, value === true ? '' : value);
  }
  element.append(...children);
  return element;
}

export const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The text of a save's result for a live region. */
export function savedText(result: Awaited<ReturnType<Book['save']>>, attempt?: (reply: unknown) => number | undefined): string {
  if (result.status === 'saved') {
    const n = attempt?.(result.reply);
    return n === undefined ? 'Saved.' : `Saved (attempt ${n}).`;
  }
  if (result.status === 'pending') return 'Kept in this browser: it is sent when Folio can be reached.';
  return `Not saved: ${result.message}`;
}

/**
 * The base of the elements that hold work: built once when first connected (the markup the author wrote stays,
 * enhanced), joined to its book, restored from the page state.
 */
export abstract class FolioElement extends HTMLElement implements Member {
  book!: Book;
  /** False when the element's id is missing or taken: it is shown but not saved. */
  saves = false;
  #built = false;

  connectedCallback(): void {
    if (this.#built) {
      this.book.join(this);
      return;
    }
    this.#built = true;
    this.book = bookFor(this);
    this.saves = this.check() && this.book.folio !== null;
    this.build();
    this.book.join(this);
  }

  disconnectedCallback(): void {
    this.book?.leave(this);
  }

  /** Checks the author's markup (reporting mistakes through the book); false when the element cannot save. */
  protected abstract check(): boolean;
  /** Enhances the markup: inputs, buttons, live regions. */
  protected abstract build(): void;
  abstract restore(loaded: Loaded): void;
}
