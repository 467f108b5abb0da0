import { sqliteTable, text, integer, primaryKey, index } from 'drizzle-orm/sqlite-core';

/** Times are stored as milliseconds since the epoch (UTC). */

export const books = sqliteTable('books', {
  id: text('id').primaryKey(),
  title: text('title').notNull(),
  createdAt: integer('created_at').notNull(),
});

export const bookOrigins = sqliteTable(
  'book_origins',
  {
    bookId: text('book_id')
      .notNull()
      .references(() => books.id, { onDelete: 'cascade' }),
    origin: text('origin').notNull(),
  },
  (t) => [primaryKey({ columns: [t.bookId, t.origin] }), index('book_origins_origin_idx').on(t.origin)],
);

/** Counters bumped by writes that running servers must notice (e.g. `origins`), read cheaply by polling. */
export const changeCounters = sqliteTable('change_counters', {
  name: text('name').primaryKey(),
  value: integer('value').notNull(),
});
