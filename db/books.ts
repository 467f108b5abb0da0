import { asc, eq, sql } from 'drizzle-orm';
import type { Database } from './index.js';
import { bookOrigins, books, changeCounters } from './schema.js';

export interface Book {
  id: string;
  title: string;
  origins: string[];
}

const ORIGINS_COUNTER = 'origins';

export class BookExistsError extends Error {
  override name = 'BookExistsError';
}

/** Bumps the counter that tells every running server to reload its origin allowlists. */
function bumpOriginsVersion(db: Database): void {
  db.orm
    .insert(changeCounters)
    .values({ name: ORIGINS_COUNTER, value: 1 })
    .onConflictDoUpdate({ target: changeCounters.name, set: { value: sql`${changeCounters.value} + 1` } })
    .run();
}

export async function originsVersion(db: Database): Promise<number> {
  const row = db.orm.select({ value: changeCounters.value }).from(changeCounters).where(eq(changeCounters.name, ORIGINS_COUNTER)).get();
  return row?.value ?? 0;
}

export async function findBook(db: Database, id: string): Promise<{ id: string; title: string } | undefined> {
  return db.orm.select({ id: books.id, title: books.title }).from(books).where(eq(books.id, id)).get();
}

export async function countBooks(db: Database): Promise<number> {
  return db.orm.select({ n: sql<number>`count(*)` }).from(books).get()!.n;
}

/** Creates a book with its (already normalised) origins. Throws BookExistsError if the id is taken. */
export async function createBook(db: Database, book: Book): Promise<void> {
  db.orm.transaction((tx) => {
    const taken = tx.select({ id: books.id }).from(books).where(eq(books.id, book.id)).get();
    if (taken) throw new BookExistsError(`book "${book.id}" already exists`);
    tx.insert(books).values({ id: book.id, title: book.title, createdAt: Date.now() }).run();
    if (book.origins.length > 0) {
      tx.insert(bookOrigins).values([...new Set(book.origins)].map((origin) => ({ bookId: book.id, origin }))).run();
    }
    bumpOriginsVersion(db);
  });
}

/** Removes a book and its origins; false when there was no such book. */
export async function removeBook(db: Database, id: string): Promise<boolean> {
  return db.orm.transaction(() => {
    const { changes } = db.orm.delete(books).where(eq(books.id, id)).run();
    if (changes > 0) bumpOriginsVersion(db);
    return changes > 0;
  });
}

/** Adds an origin to a book; false when the book does not exist. Adding an origin twice is harmless. */
export async function addBookOrigin(db: Database, bookId: string, origin: string): Promise<boolean> {
  return db.orm.transaction(() => {
    if (!db.orm.select({ id: books.id }).from(books).where(eq(books.id, bookId)).get()) return false;
    db.orm.insert(bookOrigins).values({ bookId, origin }).onConflictDoNothing().run();
    bumpOriginsVersion(db);
    return true;
  });
}

/** Removes an origin from a book; 'no-book' or 'no-origin' when there was nothing to remove. */
export async function removeBookOrigin(db: Database, bookId: string, origin: string): Promise<'removed' | 'no-book' | 'no-origin'> {
  return db.orm.transaction(() => {
    if (!db.orm.select({ id: books.id }).from(books).where(eq(books.id, bookId)).get()) return 'no-book';
    const { changes } = db.orm.delete(bookOrigins).where(sql`${bookOrigins.bookId} = ${bookId} AND ${bookOrigins.origin} = ${origin}`).run();
    if (changes === 0) return 'no-origin';
    bumpOriginsVersion(db);
    return 'removed';
  });
}

/** Every book with its origins, ordered by id. */
export async function listBooks(db: Database): Promise<Book[]> {
  const rows = db.orm
    .select({ id: books.id, title: books.title, origin: bookOrigins.origin })
    .from(books)
    .leftJoin(bookOrigins, eq(bookOrigins.bookId, books.id))
    .orderBy(asc(books.id), asc(bookOrigins.origin))
    .all();
  const byId = new Map<string, Book>();
  for (const row of rows) {
    let book = byId.get(row.id);
    if (!book) byId.set(row.id, (book = { id: row.id, title: row.title, origins: [] }));
    if (row.origin) book.origins.push(row.origin);
  }
  return [...byId.values()];
}
