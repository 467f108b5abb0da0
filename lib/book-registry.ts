import { listBooks, listTocs, originsVersion } from '../db/books.js';
import type { Database, Queries } from '../db/index.js';
import { HttpError } from './errors.js';
import type { StoredToc } from './toc.js';

/** A book's table of contents as the registry holds it. */
export interface RegisteredToc extends StoredToc {
  /** When it was imported, in ms since the epoch. */
  importedAt: number;
}

/** A book as the registry knows it. */
export interface RegisteredBook {
  id: string;
  title: string;
  /** The origins whose pages may call the book's API, sorted. */
  origins: readonly string[];
}

/**
 * Which books exist, with their titles, origins and tables of contents, held in memory: CORS, the CSRF check and the routes all ask
 * this one place, so they never disagree about a book, and no request queries the database for it. `refresh()`
 * reloads it when the books' change counter moved (a CLI in another process, another server); the books plugin
 * (plugins/books.ts) does that every FOLIO_ORIGIN_REFRESH_MS.
 */
export class BookRegistry {
  private books = new Map<string, RegisteredBook & { allowed: ReadonlySet<string>; toc: RegisteredToc | undefined }>();
  private union: ReadonlySet<string> = new Set();
  private version = -1;

  constructor(private readonly db: Database) {}

  /**
   * Reloads the books if they changed since the last look; true when it reloaded. `from`: where to read, if not the
   * database's usual reads (the first load, before serving, reads where start-up checks do: db/index.ts, startupReads).
   */
  async refresh(from: Queries = this.db): Promise<boolean> {
    const version = await originsVersion(from);
    if (version === this.version) return false;
    const [books, tocs] = await Promise.all([listBooks(from), listTocs(from)]);
    const tocOf = new Map(tocs.map((t) => [t.bookId, { ...(JSON.parse(t.toc) as StoredToc), importedAt: t.importedAt }]));
    this.books = new Map(books.map((b) => [b.id, { id: b.id, title: b.title, origins: b.origins, allowed: new Set(b.origins), toc: tocOf.get(b.id) }]));
    this.union = new Set(books.flatMap((b) => b.origins));
    this.version = version;
    return true;
  }

  /** Whether the book exists (as of the last refresh). */
  has(book: string): boolean {
    return this.books.has(book);
  }

  /** The book (as of the last refresh), or undefined. */
  get(book: string): RegisteredBook | undefined {
    const found = this.books.get(book);
    return found && { id: found.id, title: found.title, origins: found.origins };
  }

  /** The book (as of the last refresh), or the API's `404 unknown_book`. */
  known(book: string): RegisteredBook {
    const found = this.get(book);
    if (!found) throw new HttpError(404, 'unknown_book', `there is no book "${book}"`);
    return found;
  }

  /** Every book (as of the last refresh), by id. */
  list(): RegisteredBook[] {
    return [...this.books.values()].map((b) => ({ id: b.id, title: b.title, origins: b.origins })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** The book's table of contents (as of the last refresh), or undefined when it has none or does not exist. */
  toc(book: string): RegisteredToc | undefined {
    return this.books.get(book)?.toc;
  }

  /** The books (as of the last refresh) whose allowed origins include `origin`, by id. */
  booksAt(origin: string): RegisteredBook[] {
    return [...this.books.values()]
      .filter((b) => b.allowed.has(origin))
      .map((b) => ({ id: b.id, title: b.title, origins: b.origins }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Whether `origin` (the raw header, compared exactly) may call the book's API, or any non-book API when `book` is undefined. */
  allows(origin: string, book: string | undefined): boolean {
    const set = book === undefined ? this.union : this.books.get(book)?.allowed;
    return set?.has(origin) ?? false;
  }
}
