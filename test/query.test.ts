/** db/query.ts: queries of drizzle's query builder, written once over db/schema.ts, run on either database. */
import { count, eq, sql } from 'drizzle-orm';
import t from 'tap';
import { conflictOn, first, qb, rows, select, storedColumns } from '../db/query.js';
import { PgDialect } from 'drizzle-orm/pg-core';
import { renderer } from '../db/render.js';
import { bookOrigins, books, changeCounters } from '../db/schema.js';
import { bookOrigin, build, otherBookOrigin } from './helper.js';

t.test('a select\'s rows are keyed as its result type says, values as stored (times as numbers), on a join too', async (t) => {
  const app = await build(t);
  const found = await rows(
    app.db,
    select({ bookId: bookOrigins.bookId, origin: bookOrigins.origin, createdAt: books.createdAt, origins: sql<number>`1` })
      .from(bookOrigins)
      .innerJoin(books, eq(books.id, bookOrigins.bookId))
      .orderBy(bookOrigins.bookId),
  );
  t.same(
    found.map((r) => ({ ...r, createdAt: typeof r.createdAt })),
    [
      { bookId: 'book', origin: bookOrigin, createdAt: 'number', origins: 1 },
      { bookId: 'other', origin: otherBookOrigin, createdAt: 'number', origins: 1 },
    ],
  );
  t.same(await first(app.db, select({ n: count() }).from(books)), { n: 2 }, 'a count is a number on PostgreSQL too');
});

t.test('storedColumns selects a table\'s row as SELECT * gives it', async (t) => {
  const app = await build(t);
  const star = await app.db.get(sql`SELECT * FROM books WHERE id = 'book'`);
  t.strictSame(await first(app.db, select(storedColumns(books)).from(books).where(eq(books.id, 'book'))), star);
});

t.test('an upsert on conflictOn(column) names the bare column, which both databases take', async (t) => {
  const app = await build(t);
  const bump = qb
    .insert(changeCounters)
    .values({ name: 'test', value: 1 })
    .onConflictDoUpdate({ target: conflictOn(changeCounters.name), set: { value: sql`${changeCounters.value} + 1` } });
  t.match(renderer(new PgDialect())(bump).text, / on conflict \("name"\) do update /);
  await app.db.write((tx) => tx.run(bump));
  await app.db.write((tx) => tx.run(bump));
  t.same(await first(app.db, select({ value: changeCounters.value }).from(changeCounters).where(eq(changeCounters.name, 'test'))), { value: 2 });
});

t.test('a builder query does not run by itself: only through the Database', async (t) => {
  // drizzle wraps the error: Failed query: …
  await t.rejects(qb.select().from(books), { cause: { message: /run builder queries through the Database/ } });
});
