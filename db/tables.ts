import { sql, type SQL } from 'drizzle-orm';

/**
 * Folio's tables, written once for both databases: `db/schema.ts` builds them with drizzle's SQLite column
 * types and `db/schema.pg.ts` with PostgreSQL's, from the same definition, so the two cannot drift apart
 * (drizzle-kit generates each dialect's migrations from its module; test/schema.test.ts compares the
 * migrated databases).
 *
 * Column kinds, and what each dialect stores them as:
 * - `text`: TEXT on both.
 * - `int`: INTEGER on both (versions, attempt numbers, counters).
 * - `time`: milliseconds since the epoch (UTC): INTEGER in SQLite, BIGINT in PostgreSQL.
 * - `flag`: 0 or 1: INTEGER in SQLite, SMALLINT in PostgreSQL. Not PostgreSQL's BOOLEAN: the same SQL
 *   (`latest = 1`, partial indexes `WHERE latest = 1`) and the same stored values then work on both.
 * - `real`: REAL in SQLite, DOUBLE PRECISION in PostgreSQL.
 * - `big`: a count that may pass 2^31 (bytes): INTEGER in SQLite, BIGINT in PostgreSQL.
 * - `id`: an increasing row id: INTEGER PRIMARY KEY AUTOINCREMENT in SQLite, a BIGINT identity in PostgreSQL.
 */

/** The chainable part of a drizzle column builder that both dialects share. */
export interface Column {
  notNull(): Column;
  primaryKey(): Column;
  default(value: unknown): Column;
  unique(name?: string): Column;
  references(ref: () => unknown, actions?: { onDelete?: 'cascade' }): Column;
}

export interface IndexBuilder {
  on(...columns: unknown[]): IndexBuilder & { where(condition: SQL): unknown };
}

/** What a dialect's module passes in: drizzle's builders behind one shape. */
export interface Builders {
  text(name: string): Column;
  int(name: string): Column;
  time(name: string): Column;
  flag(name: string): Column;
  real(name: string): Column;
  big(name: string): Column;
  id(name: string): Column;
  table<C extends Record<string, Column>>(name: string, columns: C, extras?: (t: { [K in keyof C]: unknown }) => unknown[]): Record<keyof C, unknown>;
  index(name: string): IndexBuilder;
  uniqueIndex(name: string): IndexBuilder;
  primaryKey(config: { columns: unknown[] }): unknown;
}

/** Server-wide roles. A researcher may export pseudonymised research data and nothing else of other people's. */
export const roles = ['student', 'instructor', 'admin', 'researcher'] as const;
export type Role = (typeof roles)[number];

export function defineTables(b: Builders) {
  const books = b.table('books', {
    id: b.text('id').primaryKey(),
    title: b.text('title').notNull(),
    createdAt: b.time('created_at').notNull(),
  });
  const bookRef = () => (books as { id: unknown }).id;

  const bookOrigins = b.table(
    'book_origins',
    {
      bookId: b.text('book_id').notNull().references(bookRef, { onDelete: 'cascade' }),
      origin: b.text('origin').notNull(),
      /** The order origins were added in (1, 2, …): a book's first origin names its activities in xAPI exports. */
      position: b.int('position').notNull().default(0),
    },
    (t) => [b.primaryKey({ columns: [t.bookId, t.origin] }), b.index('book_origins_origin_idx').on(t.origin)],
  );

  /** Counters bumped by writes that running servers must notice (e.g. `origins`), read cheaply by polling. */
  const changeCounters = b.table('change_counters', {
    name: b.text('name').primaryKey(),
    value: b.int('value').notNull(),
  });

  /** Students (anonymous until they register), instructors and admins. */
  const users = b.table('users', {
    id: b.text('id').primaryKey(),
    /** As the person typed it; null for an anonymous user. */
    username: b.text('username'),
    /** Lower-cased username: what makes usernames case-insensitively unique. */
    usernameKey: b.text('username_key').unique('users_username_key_unique'),
    name: b.text('name'),
    email: b.text('email'),
    /** One of `roles`. */
    role: b.text('role').notNull().default('student'),
    /** `scrypt$N$r$p$salt$hash`, or null for an anonymous user. */
    passwordHash: b.text('password_hash'),
    researchConsent: b.flag('research_consent').notNull().default(false),
    anonymous: b.flag('anonymous').notNull().default(false),
    createdAt: b.time('created_at').notNull(),
    updatedAt: b.time('updated_at').notNull(),
  });
  const userRef = () => (users as { id: unknown }).id;

  /** Server-side sessions, keyed by the SHA-256 of the token (the raw token is never stored). */
  const sessions = b.table(
    'sessions',
    {
      id: b.text('id').primaryKey(),
      userId: b.text('user_id').notNull().references(userRef, { onDelete: 'cascade' }),
      /** `cookie` (the signed session cookie) or `token` (Authorization: Bearer); one never works as the other. */
      kind: b.text('kind').notNull(),
      expiresAt: b.time('expires_at').notNull(),
      /** `{}`; sessions stored by earlier Folio versions hold @fastify/session's object as JSON here. Read by nothing. */
      data: b.text('data').notNull(),
      createdAt: b.time('created_at').notNull(),
    },
    (t) => [b.index('sessions_user_idx').on(t.userId), b.index('sessions_expires_idx').on(t.expiresAt)],
  );

  /** Every saved version of a student's program for an activity. */
  const programs = b.table(
    'programs',
    {
      id: b.id('id'),
      userId: b.text('user_id').notNull().references(userRef, { onDelete: 'cascade' }),
      bookId: b.text('book_id').notNull().references(bookRef, { onDelete: 'cascade' }),
      activity: b.text('activity').notNull(),
      version: b.int('version').notNull(),
      code: b.text('code').notNull(),
      language: b.text('language'),
      page: b.text('page'),
      savedAt: b.time('saved_at').notNull(),
      /** 1 on the newest version of each activity (page state reads only these, however long the history). */
      latest: b.flag('latest').notNull().default(false),
      /**
       * Bytes of this version's entry in the page state (its code as JSON, with its names and time: db/work.ts). In the
       * page index, so that a save sums a page's size from the index alone (FOLIO_PAGE_STATE_MAX_BYTES).
       */
      stateBytes: b.int('state_bytes').notNull().default(0),
    },
    (t) => [
      b.uniqueIndex('programs_version_idx').on(t.userId, t.bookId, t.activity, t.version),
      b.index('programs_latest_page_idx').on(t.userId, t.bookId, t.page, t.stateBytes).where(sql`latest = 1`),
      // Exports read a book's rows in time order.
      b.index('programs_book_time_idx').on(t.bookId, t.savedAt),
    ],
  );

  /** Every attempt at a question; `attempt` counts from 1, so the latest attempt number is the count. */
  const answers = b.table(
    'answers',
    {
      id: b.id('id'),
      userId: b.text('user_id').notNull().references(userRef, { onDelete: 'cascade' }),
      bookId: b.text('book_id').notNull().references(bookRef, { onDelete: 'cascade' }),
      question: b.text('question').notNull(),
      attempt: b.int('attempt').notNull(),
      kind: b.text('kind').notNull(),
      /** The kind's answer as JSON. */
      answer: b.text('answer').notNull(),
      correct: b.flag('correct'),
      score: b.real('score'),
      page: b.text('page'),
      savedAt: b.time('saved_at').notNull(),
      /** 1 on the latest attempt at each question (page state reads only these, however many attempts). */
      latest: b.flag('latest').notNull().default(false),
      /**
       * The latest attempt's entry in the page state as JSON text, written with it (db/work.ts); NULL on older
       * attempts. A copy of the row's columns: whatever changes them must clear it (the page state then builds it).
       */
      pageEntry: b.text('page_entry'),
    },
    (t) => [
      b.uniqueIndex('answers_attempt_idx').on(t.userId, t.bookId, t.question, t.attempt),
      b.index('answers_latest_page_idx').on(t.userId, t.bookId, t.page).where(sql`latest = 1`),
      // Exports read a book's rows in time order.
      b.index('answers_book_time_idx').on(t.bookId, t.savedAt),
    ],
  );

  /** Research events as the client reported them, with the server's time of arrival. */
  const events = b.table(
    'events',
    {
      id: b.id('id'),
      userId: b.text('user_id').notNull().references(userRef, { onDelete: 'cascade' }),
      bookId: b.text('book_id').notNull().references(bookRef, { onDelete: 'cascade' }),
      type: b.text('type').notNull(),
      target: b.text('target'),
      page: b.text('page'),
      /** JSON, at most 16 KiB. */
      data: b.text('data'),
      clientTime: b.time('client_time'),
      serverTime: b.time('server_time').notNull(),
    },
    // By user with the time: a student's last activity, and whether they have events in an export's window, without a scan.
    (t) => [b.index('events_book_time_idx').on(t.bookId, t.serverTime), b.index('events_user_time_idx').on(t.userId, t.bookId, t.serverTime)],
  );

  /** Where a student left off in a book. */
  const positions = b.table(
    'positions',
    {
      userId: b.text('user_id').notNull().references(userRef, { onDelete: 'cascade' }),
      bookId: b.text('book_id').notNull().references(bookRef, { onDelete: 'cascade' }),
      page: b.text('page').notNull(),
      scroll: b.real('scroll'),
      updatedAt: b.time('updated_at').notNull(),
    },
    (t) => [b.primaryKey({ columns: [t.userId, t.bookId] })],
  );

  /** Pages a student marked complete. */
  const pageCompletions = b.table(
    'page_completions',
    {
      userId: b.text('user_id').notNull().references(userRef, { onDelete: 'cascade' }),
      bookId: b.text('book_id').notNull().references(bookRef, { onDelete: 'cascade' }),
      page: b.text('page').notNull(),
      completedAt: b.time('completed_at').notNull(),
    },
    (t) => [b.primaryKey({ columns: [t.userId, t.bookId, t.page] }), b.index('page_completions_book_time_idx').on(t.bookId, t.completedAt)],
  );

  /**
   * What each user stores, for the storage quotas (FOLIO_QUOTA_*): program versions and answer attempts, events,
   * and the bytes of their code, answers and event data. Kept by the writes themselves (db/work.ts), in the same
   * transaction as the rows they count.
   */
  const userUsage = b.table('user_usage', {
    userId: b.text('user_id').primaryKey().references(userRef, { onDelete: 'cascade' }),
    versions: b.int('versions').notNull().default(0),
    events: b.int('events').notNull().default(0),
    bytes: b.big('bytes').notNull().default(0),
  });

  /** Rate-limit counters (login and register attempts), shared by every process on the database. */
  const rateLimits = b.table(
    'rate_limits',
    {
      key: b.text('key').primaryKey(),
      count: b.int('count').notNull(),
      /** When the current window ends. */
      resetAt: b.time('reset_at').notNull(),
    },
    (t) => [b.index('rate_limits_reset_idx').on(t.resetAt)],
  );

  return { books, bookOrigins, changeCounters, users, sessions, programs, answers, events, positions, pageCompletions, userUsage, rateLimits };
}
