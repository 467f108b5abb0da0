import { sql } from 'drizzle-orm';
import type { StoredToc } from '../lib/toc.js';
import type { Database, Queries } from './index.js';

export interface Book {
  id: string;
  title: string;
  origins: string[];
}

const ORIGINS_COUNTER = 'origins';

const bumpOriginsSql = sql`INSERT INTO change_counters (name, value) VALUES (${ORIGINS_COUNTER}, 1) ON CONFLICT (name) DO UPDATE SET value = change_counters.value + 1`;
/** Polled by every server (plugins/cors.ts): rendered once. */
const originsVersionSql = sql`SELECT value FROM change_counters WHERE name = ${ORIGINS_COUNTER}`;

export class BookExistsError extends Error {
  override name = 'BookExistsError';
}

/**
 * Bumps the counter that tells every running server (every process on the database) to reload its book registry:
 * books, their origins and tables of contents (the counter is named `origins` after what it first counted).
 */
async function bumpOriginsVersion(tx: Queries): Promise<void> {
  await tx.run(bumpOriginsSql);
}

export async function originsVersion(db: Queries): Promise<number> {
  return (await db.get<{ value: number }>(originsVersionSql))?.value ?? 0;
}

export async function findBook(db: Database, id: string): Promise<{ id: string; title: string } | undefined> {
  return db.get(sql`SELECT id, title FROM books WHERE id = ${id}`);
}

export async function countBooks(db: Queries): Promise<number> {
  return (await db.get<{ n: number }>(sql`SELECT COUNT(*) AS n FROM books`))!.n;
}

/** Creates a book with its (already normalised) origins. Throws BookExistsError if the id is taken. */
export async function createBook(db: Database, book: Book): Promise<void> {
  await db.write(async (tx) => {
    const created = await tx.run(sql`INSERT INTO books (id, title, created_at) VALUES (${book.id}, ${book.title}, ${Date.now()}) ON CONFLICT (id) DO NOTHING`);
    if (created === 0) throw new BookExistsError(`book "${book.id}" already exists`);
    let position = 0;
    for (const origin of new Set(book.origins)) await tx.run(sql`INSERT INTO book_origins (book_id, origin, position) VALUES (${book.id}, ${origin}, ${++position})`);
    await bumpOriginsVersion(tx);
  });
}

/** Removes a book and its origins; false when there was no such book. */
export async function removeBook(db: Database, id: string): Promise<boolean> {
  return db.write(async (tx) => {
    const removed = (await tx.run(sql`DELETE FROM books WHERE id = ${id}`)) > 0;
    if (removed) await bumpOriginsVersion(tx);
    return removed;
  });
}

/** Adds an origin to a book; false when the book does not exist. Adding an origin twice is harmless. */
export async function addBookOrigin(db: Database, bookId: string, origin: string): Promise<boolean> {
  return db.write(async (tx) => {
    if (!(await tx.get(sql`SELECT 1 AS found FROM books WHERE id = ${bookId}`))) return false;
    await tx.run(
      sql`INSERT INTO book_origins (book_id, origin, position) SELECT ${bookId}, ${origin}, COALESCE(MAX(position), 0) + 1 FROM book_origins WHERE book_id = ${bookId}
       ON CONFLICT DO NOTHING`,
    );
    await bumpOriginsVersion(tx);
    return true;
  });
}

/** Removes an origin from a book; 'no-book' or 'no-origin' when there was nothing to remove. */
export async function removeBookOrigin(db: Database, bookId: string, origin: string): Promise<'removed' | 'no-book' | 'no-origin'> {
  return db.write(async (tx) => {
    if (!(await tx.get(sql`SELECT 1 AS found FROM books WHERE id = ${bookId}`))) return 'no-book';
    if ((await tx.run(sql`DELETE FROM book_origins WHERE book_id = ${bookId} AND origin = ${origin}`)) === 0) return 'no-origin';
    await bumpOriginsVersion(tx);
    return 'removed';
  });
}

/** Every book with its origins, ordered by id. */
export async function listBooks(db: Queries): Promise<Book[]> {
  const rows = await db.all<{ id: string; title: string; origin: string | null }>(
    sql`SELECT b.id, b.title, o.origin FROM books b LEFT JOIN book_origins o ON o.book_id = b.id ORDER BY b.id, o.origin`,
  );
  const byId = new Map<string, Book>();
  for (const row of rows) {
    let book = byId.get(row.id);
    if (!book) byId.set(row.id, (book = { id: row.id, title: row.title, origins: [] }));
    if (row.origin) book.origins.push(row.origin);
  }
  return [...byId.values()];
}

/** A book's stored table of contents: the JSON of lib/toc.ts's StoredToc, and when it was imported. */
export interface TocRow {
  bookId: string;
  toc: string;
  importedAt: number;
}

/**
 * Stores a book's table of contents (checked by lib/toc.ts), replacing the one it had: the students' work is not
 * touched (work on ids the new one no longer lists stays). False when there is no such book.
 */
export async function importToc(db: Database, bookId: string, toc: StoredToc): Promise<boolean> {
  return db.write(async (tx) => {
    if (!(await tx.get(sql`SELECT 1 AS found FROM books WHERE id = ${bookId}`))) return false;
    await tx.run(
      sql`INSERT INTO book_tocs (book_id, toc, imported_at) VALUES (${bookId}, ${JSON.stringify(toc)}, ${Date.now()})
       ON CONFLICT (book_id) DO UPDATE SET toc = excluded.toc, imported_at = excluded.imported_at`,
    );
    await bumpOriginsVersion(tx);
    return true;
  });
}

/** Every book's table of contents. */
export async function listTocs(db: Queries): Promise<TocRow[]> {
  return db.all<TocRow>(sql`SELECT book_id AS "bookId", toc, imported_at AS "importedAt" FROM book_tocs ORDER BY book_id`);
}
