import { and, asc, count, eq, sql } from 'drizzle-orm';
import type { Static } from 'typebox';
import type { StoredToc } from '../lib/toc.js';
import type { PublicBook } from '../schemas/books.js';
import type { Database, Queries } from './index.js';
import { conflictOn, first, qb, rows, select } from './query.js';
import { bookOrigins, books, bookTocs, changeCounters } from './schema.js';

export interface Book {
  id: string;
  title: string;
  origins: string[];
}

const ORIGINS_COUNTER = 'origins';

const bumpOrigins = qb
  .insert(changeCounters)
  .values({ name: ORIGINS_COUNTER, value: 1 })
  .onConflictDoUpdate({ target: conflictOn(changeCounters.name), set: { value: sql`${changeCounters.value} + 1` } });
/** Polled by every server (plugins/cors.ts). */
const originsVersionQuery = select({ value: changeCounters.value }).from(changeCounters).where(eq(changeCounters.name, ORIGINS_COUNTER));
// Built once (the values are placeholders).
const bookById = select({ id: books.id, title: books.title }).from(books).where(eq(books.id, sql.placeholder('id')));
const bookCount = select({ n: count() }).from(books);
const booksWithOrigins = select({ id: books.id, title: books.title, origin: sql<string | null>`${bookOrigins.origin}` })
  .from(books)
  .leftJoin(bookOrigins, eq(bookOrigins.bookId, books.id))
  .orderBy(asc(books.id), asc(bookOrigins.origin));
const tocs = select({ bookId: bookTocs.bookId, toc: bookTocs.toc, importedAt: bookTocs.importedAt }).from(bookTocs).orderBy(asc(bookTocs.bookId));

export class BookExistsError extends Error {
  override name = 'BookExistsError';
}

/**
 * Bumps the counter that tells every running server (every process on the database) to reload its book registry:
 * books, their origins and tables of contents (the counter is named `origins` after what it first counted).
 */
async function bumpOriginsVersion(tx: Queries): Promise<void> {
  await tx.run(bumpOrigins);
}

export async function originsVersion(db: Queries): Promise<number> {
  return (await first(db, originsVersionQuery))?.value ?? 0;
}

/** A book as the API shows it (schemas/books.ts), or undefined. */
export async function findBook(db: Database, id: string): Promise<Static<typeof PublicBook> | undefined> {
  return first(db, bookById, { id });
}

export async function countBooks(db: Queries): Promise<number> {
  return (await first(db, bookCount))!.n;
}

/** Creates a book with its (already normalised) origins. Throws BookExistsError if the id is taken. */
export async function createBook(db: Database, book: Book): Promise<void> {
  await db.write(async (tx) => {
    const created = await tx.run(qb.insert(books).values({ id: book.id, title: book.title, createdAt: Date.now() }).onConflictDoNothing());
    if (created === 0) throw new BookExistsError(`book "${book.id}" already exists`);
    const origins = [...new Set(book.origins)].map((origin, i) => ({ bookId: book.id, origin, position: i + 1 }));
    if (origins.length > 0) await tx.run(qb.insert(bookOrigins).values(origins));
    await bumpOriginsVersion(tx);
  });
}

/** Removes a book and its origins; false when there was no such book. */
export async function removeBook(db: Database, id: string): Promise<boolean> {
  return db.write(async (tx) => {
    const removed = (await tx.run(qb.delete(books).where(eq(books.id, id)))) > 0;
    if (removed) await bumpOriginsVersion(tx);
    return removed;
  });
}

/** Adds an origin to a book; false when the book does not exist. Adding an origin twice is harmless. */
export async function addBookOrigin(db: Database, bookId: string, origin: string): Promise<boolean> {
  return db.write(async (tx) => {
    if (!(await bookExists(tx, bookId))) return false;
    const next = select({ bookId: sql<string>`${bookId}`, origin: sql<string>`${origin}`, position: sql<number>`COALESCE(MAX(${bookOrigins.position}), 0) + 1` })
      .from(bookOrigins)
      .where(eq(bookOrigins.bookId, bookId));
    await tx.run(qb.insert(bookOrigins).select(next).onConflictDoNothing());
    await bumpOriginsVersion(tx);
    return true;
  });
}

async function bookExists(tx: Queries, id: string): Promise<boolean> {
  return (await first(tx, bookById, { id })) !== undefined;
}

/** Removes an origin from a book; 'no-book' or 'no-origin' when there was nothing to remove. */
export async function removeBookOrigin(db: Database, bookId: string, origin: string): Promise<'removed' | 'no-book' | 'no-origin'> {
  return db.write(async (tx) => {
    if (!(await bookExists(tx, bookId))) return 'no-book';
    if ((await tx.run(qb.delete(bookOrigins).where(and(eq(bookOrigins.bookId, bookId), eq(bookOrigins.origin, origin))))) === 0) return 'no-origin';
    await bumpOriginsVersion(tx);
    return 'removed';
  });
}

/** Every book with its origins, ordered by id. */
export async function listBooks(db: Queries): Promise<Book[]> {
  const found = await rows(db, booksWithOrigins);
  const byId = new Map<string, Book>();
  for (const row of found) {
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
    if (!(await bookExists(tx, bookId))) return false;
    await tx.run(
      qb
        .insert(bookTocs)
        .values({ bookId, toc: JSON.stringify(toc), importedAt: Date.now() })
        .onConflictDoUpdate({ target: conflictOn(bookTocs.bookId), set: { toc: sql`excluded.toc`, importedAt: sql`excluded.imported_at` } }),
    );
    await bumpOriginsVersion(tx);
    return true;
  });
}

/** Every book's table of contents. */
export async function listTocs(db: Queries): Promise<TocRow[]> {
  return rows(db, tocs);
}
