import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

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

/** Every saved version of a student's program for an activity. */
export const programs = sqliteTable(
  'programs',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    bookId: text('book_id')
      .notNull()
      .references(() => books.id, { onDelete: 'cascade' }),
    activity: text('activity').notNull(),
    version: integer('version').notNull(),
    code: text('code').notNull(),
    language: text('language'),
    page: text('page'),
    savedAt: integer('saved_at').notNull(),
    /** 1 on the newest version of each activity (page state reads only these, however long the history). */
    latest: integer('latest', { mode: 'boolean' }).notNull().default(false),
  },
  (t) => [
    uniqueIndex('programs_version_idx').on(t.userId, t.bookId, t.activity, t.version),
    index('programs_latest_page_idx').on(t.userId, t.bookId, t.page).where(sql`latest = 1`),
    // Exports read a book's rows in time order.
    index('programs_book_time_idx').on(t.bookId, t.savedAt),
  ],
);

/** Every attempt at a question; `attempt` counts from 1, so the latest attempt number is the count. */
export const answers = sqliteTable(
  'answers',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    bookId: text('book_id')
      .notNull()
      .references(() => books.id, { onDelete: 'cascade' }),
    question: text('question').notNull(),
    attempt: integer('attempt').notNull(),
    kind: text('kind').notNull(),
    /** The kind's answer as JSON. */
    answer: text('answer').notNull(),
    correct: integer('correct', { mode: 'boolean' }),
    score: real('score'),
    page: text('page'),
    savedAt: integer('saved_at').notNull(),
    /** 1 on the latest attempt at each question (page state reads only these, however many attempts). */
    latest: integer('latest', { mode: 'boolean' }).notNull().default(false),
  },
  (t) => [
    uniqueIndex('answers_attempt_idx').on(t.userId, t.bookId, t.question, t.attempt),
    index('answers_latest_page_idx').on(t.userId, t.bookId, t.page).where(sql`latest = 1`),
    // Exports read a book's rows in time order.
    index('answers_book_time_idx').on(t.bookId, t.savedAt),
  ],
);

/** Research events as the client reported them, with the server's time of arrival. */
export const events = sqliteTable(
  'events',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    bookId: text('book_id')
      .notNull()
      .references(() => books.id, { onDelete: 'cascade' }),
    type: text('type').notNull(),
    target: text('target'),
    page: text('page'),
    /** JSON, at most 16 KiB. */
    data: text('data'),
    clientTime: integer('client_time'),
    serverTime: integer('server_time').notNull(),
  },
  // By user with the time: a student's last activity, and whether they have events in an export's window, without a scan.
  (t) => [index('events_book_time_idx').on(t.bookId, t.serverTime), index('events_user_time_idx').on(t.userId, t.bookId, t.serverTime)],
);

/** Where a student left off in a book. */
export const positions = sqliteTable(
  'positions',
  {
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    bookId: text('book_id')
      .notNull()
      .references(() => books.id, { onDelete: 'cascade' }),
    page: text('page').notNull(),
    scroll: real('scroll'),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.bookId] })],
);

/** Pages a student marked complete. */
export const pageCompletions = sqliteTable(
  'page_completions',
  {
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    bookId: text('book_id')
      .notNull()
      .references(() => books.id, { onDelete: 'cascade' }),
    page: text('page').notNull(),
    completedAt: integer('completed_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.bookId, t.page] }), index('page_completions_book_time_idx').on(t.bookId, t.completedAt)],
);
