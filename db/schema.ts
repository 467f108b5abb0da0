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

export const roles = ['student', 'instructor', 'admin'] as const;
export type Role = (typeof roles)[number];

/** Students (anonymous until they register), instructors and admins. */
export const users = sqliteTable(
  'users',
  {
    id: text('id').primaryKey(),
    /** As the person typed it; null for an anonymous user. */
    username: text('username'),
    /** Lower-cased username: what makes usernames case-insensitively unique. */
    usernameKey: text('username_key').unique('users_username_key_unique'),
    name: text('name'),
    email: text('email'),
    role: text('role', { enum: roles }).notNull().default('student'),
    /** `scrypt$N$r$p$salt$hash`, or null for an anonymous user. */
    passwordHash: text('password_hash'),
    researchConsent: integer('research_consent', { mode: 'boolean' }).notNull().default(false),
    anonymous: integer('anonymous', { mode: 'boolean' }).notNull().default(false),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
);

/** Server-side sessions, keyed by the SHA-256 of the token (the raw token is never stored). */
export const sessions = sqliteTable(
  'sessions',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** `cookie` (through @fastify/session) or `token` (Authorization: Bearer). */
    kind: text('kind', { enum: ['cookie', 'token'] }).notNull(),
    expiresAt: integer('expires_at').notNull(),
    /** The @fastify/session object as JSON (cookie sessions); `{}` for tokens. */
    data: text('data').notNull(),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [index('sessions_user_idx').on(t.userId), index('sessions_expires_idx').on(t.expiresAt)],
);
