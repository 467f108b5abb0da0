import { listBooks, originsVersion } from '../db/books.js';
import type { Database, Queries } from '../db/index.js';

/**
 * The origins each book allows, held in memory so that no request queries the database for CORS.
 * `refresh()` reloads them when the change counter moved (a CLI in another process, the admin API).
 */
export class OriginAllowlist {
  private byBook = new Map<string, ReadonlySet<string>>();
  private union: ReadonlySet<string> = new Set();
  private version = -1;

  constructor(private readonly db: Database) {}

  /**
   * Reloads the allowlists if they changed since the last look; true when it reloaded. `from`: where to read, if not
   * the database's usual reads (the first load, before serving, reads where start-up checks do: db/index.ts, startupReads).
   */
  async refresh(from: Queries = this.db): Promise<boolean> {
    const version = await originsVersion(from);
    if (version === this.version) return false;
    const books = await listBooks(from);
    this.byBook = new Map(books.map((b) => [b.id, new Set(b.origins)]));
    this.union = new Set(books.flatMap((b) => b.origins));
    this.version = version;
    return true;
  }

  /** Whether the book exists (as of the last refresh). */
  hasBook(book: string): boolean {
    return this.byBook.has(book);
  }

  /** Whether `origin` (the raw header, compared exactly) may call the book's API, or any non-book API when `book` is undefined. */
  allows(origin: string, book: string | undefined): boolean {
    const set = book === undefined ? this.union : this.byBook.get(book);
    return set?.has(origin) ?? false;
  }
}
