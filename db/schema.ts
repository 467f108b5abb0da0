import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

/**
 * Folio's tables in SQLite: what drizzle-kit generates db/migrations/sqlite from, and where the row types come from
 * (`typeof users.$inferSelect`). db/schema.pg.ts declares the same tables for PostgreSQL; test/schema.test.ts
 * compares the two migrated databases, so that they cannot drift apart.
 *
 * What each dialect stores, so that the same SQL and the same stored values work on both:
 * - times: milliseconds since the epoch (UTC): INTEGER here, BIGINT in PostgreSQL.
 * - flags: 0 or 1: INTEGER here, SMALLINT in PostgreSQL (not BOOLEAN: `latest = 1` and the partial indexes
 *   `WHERE latest = 1` then read the same on both).
 * - `real`: REAL here, DOUBLE PRECISION in PostgreSQL; byte counts that may pass 2^31: INTEGER here, BIGINT there.
 * - row ids: INTEGER PRIMARY KEY AUTOINCREMENT here, a BIGINT identity in PostgreSQL.
 */

/**
 * Server-wide roles. A researcher may export pseudonymised research data and nothing else of other people's; an admin
 * may do everything. Teaching is per course (`courseStaff`): the server-wide `instructor` role of earlier versions is
 * retired by migration 0010 (each instructor became staff of a default course per book).
 */
export const roles = ['student', 'admin', 'researcher'] as const;
export type Role = (typeof roles)[number];

/** A course's staff: instructors, and teaching assistants, who read the same reports but do not change the roster. */
export const staffRoles = ['instructor', 'ta'] as const;
export type StaffRole = (typeof staffRoles)[number];

/** How a student came to be enrolled: with the course's join code, added by staff (CLI, API, roster file), by an LMS launch, or by migration 0010. */
export const enrolmentSources = ['code', 'staff', 'roster', 'lti', 'migration'] as const;
export type EnrolmentSource = (typeof enrolmentSources)[number];

/**
 * A 0/1 flag. Declared in drizzle's boolean mode, as the migrations were generated (`DEFAULT false`), but typed as
 * the 0 or 1 that SQLite stores and Folio's queries read.
 */
const flag = (name: string) => integer(name, { mode: 'boolean' }).$type<0 | 1>();
/** `DEFAULT false` (0), as in the migrations. */
const off = false as unknown as 0;
/** `DEFAULT true` (1), as in the migrations. */
const on = true as unknown as 1;

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
    /** The order origins were added in (1, 2, …): a book's first origin names its activities in xAPI exports. */
    position: integer('position').notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.bookId, t.origin] }), index('book_origins_origin_idx').on(t.origin)],
);

/** A book's table of contents (`folio books toc import`): chapters, pages, questions with points, activities, as JSON. */
export const bookTocs = sqliteTable('book_tocs', {
  bookId: text('book_id')
    .primaryKey()
    .references(() => books.id, { onDelete: 'cascade' }),
  /** The validated file (schemas/toc.ts), as JSON. */
  toc: text('toc').notNull(),
  importedAt: integer('imported_at').notNull(),
});

/** Counters bumped by writes that running servers must notice (e.g. `origins`), read cheaply by polling. */
export const changeCounters = sqliteTable('change_counters', {
  name: text('name').primaryKey(),
  value: integer('value').notNull(),
});

/** Students (anonymous until they register), instructors and admins. */
export const users = sqliteTable('users', {
  id: text('id').primaryKey(),
  /** As the person typed it; null for an anonymous user. */
  username: text('username'),
  /** Lower-cased username: what makes usernames case-insensitively unique. */
  usernameKey: text('username_key').unique('users_username_key_unique'),
  name: text('name'),
  email: text('email'),
  role: text('role', { enum: roles }).notNull().default('student'),
  /** `scrypt$N$r$p$salt$hash`, or null for an anonymous user and for an account made from a course roster until its set-password link is used. */
  passwordHash: text('password_hash'),
  researchConsent: flag('research_consent').notNull().default(off),
  anonymous: flag('anonymous').notNull().default(off),
  createdAt: integer('created_at').notNull(),
  updatedAt: integer('updated_at').notNull(),
});

/**
 * One class using one book. A student's work belongs to (student, book); a course decides who may see it: its staff
 * see the work of its enrolled students, in the course's dates when it has them.
 */
export const courses = sqliteTable(
  'courses',
  {
    /** A slug, as book ids are. */
    id: text('id').primaryKey(),
    bookId: text('book_id')
      .notNull()
      .references(() => books.id, { onDelete: 'cascade' }),
    title: text('title').notNull(),
    term: text('term'),
    /** What students type to join (lib/join-code.ts): upper-case, unguessable, replaced by `folio courses code ID --rotate`. */
    joinCode: text('join_code').notNull().unique('courses_join_code_unique'),
    /** 0: the join code is refused (staff may still enrol students). */
    open: flag('open').notNull().default(on),
    /** When the course's reports start and end (work outside is left out of them); null: no bound. */
    startsAt: integer('starts_at'),
    endsAt: integer('ends_at'),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [index('courses_book_idx').on(t.bookId)],
);

/** Who teaches a course: `instructor` or `ta`. */
export const courseStaff = sqliteTable(
  'course_staff',
  {
    courseId: text('course_id')
      .notNull()
      .references(() => courses.id, { onDelete: 'cascade' }),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    role: text('role', { enum: staffRoles }).notNull(),
    addedAt: integer('added_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.courseId, t.userId] }), index('course_staff_user_idx').on(t.userId)],
);

/** Who studies in a course (reports list these students only), in user-id order within a course (the reports' cursor). */
export const enrolments = sqliteTable(
  'enrolments',
  {
    courseId: text('course_id')
      .notNull()
      .references(() => courses.id, { onDelete: 'cascade' }),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    via: text('via', { enum: enrolmentSources }).notNull(),
    enrolledAt: integer('enrolled_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.courseId, t.userId] }), index('enrolments_user_idx').on(t.userId)],
);

/**
 * Links that let a person set their password (accounts a roster file created): keyed by the SHA-256 of the token in
 * the link (the raw token is never stored), single-use, until `expiresAt`.
 */
export const passwordLinks = sqliteTable(
  'password_links',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    expiresAt: integer('expires_at').notNull(),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [index('password_links_user_idx').on(t.userId)],
);

/**
 * Hand-off codes (db/handoffs.ts): how a login completed on Folio's own pages (an LTI launch, an identity provider's
 * callback) reaches the book page. Keyed by the SHA-256 of the code (the raw code is never stored); single use, bound
 * to one book, living at most 60 s.
 */
export const handoffCodes = sqliteTable(
  'handoff_codes',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    bookId: text('book_id')
      .notNull()
      .references(() => books.id, { onDelete: 'cascade' }),
    /**
     * A provider identity (JSON: issuer, sub, provider, email…) to link to the user when the code is redeemed by that
     * user's own session (routes/oidc.ts, routes/handoff.ts); null for a plain login.
     */
    link: text('link'),
    /**
     * A code for the dashboard (Folio's own page, not the book's): it logs course staff in there, at this course
     * (routes/dashboard-signin.ts); null for a book page's code. Each kind is redeemed only where it belongs.
     */
    courseId: text('course_id').references(() => courses.id, { onDelete: 'cascade' }),
    expiresAt: integer('expires_at').notNull(),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [index('handoff_codes_expires_idx').on(t.expiresAt)],
);

/** Server-side sessions, keyed by the SHA-256 of the token (the raw token is never stored). */
export const sessions = sqliteTable(
  'sessions',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** `cookie` (the signed session cookie) or `token` (Authorization: Bearer); one never works as the other. */
    kind: text('kind', { enum: ['cookie', 'token'] }).notNull(),
    expiresAt: integer('expires_at').notNull(),
    /** `{}`; sessions stored by earlier Folio versions hold @fastify/session's object as JSON here. Read by nothing. */
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
    latest: flag('latest').notNull().default(off),
    /**
     * Bytes of this version's entry in the page state (its code as JSON, with its names and time: db/work.ts). In the
     * page index, so that a save sums a page's size from the index alone (FOLIO_PAGE_STATE_MAX_BYTES).
     */
    stateBytes: integer('state_bytes').notNull().default(0),
  },
  (t) => [
    uniqueIndex('programs_version_idx').on(t.userId, t.bookId, t.activity, t.version),
    index('programs_latest_page_idx').on(t.userId, t.bookId, t.page, t.stateBytes).where(sql`latest = 1`),
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
    correct: flag('correct'),
    score: real('score'),
    page: text('page'),
    savedAt: integer('saved_at').notNull(),
    /** 1 on the latest attempt at each question (page state reads only these, however many attempts). */
    latest: flag('latest').notNull().default(off),
    /**
     * The latest attempt's entry in the page state as JSON text, written with it (db/work.ts); NULL on older
     * attempts. A copy of the row's columns: whatever changes them must clear it (the page state then builds it).
     */
    pageEntry: text('page_entry'),
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

/**
 * Each student's row of the progress grid in a book, kept for the course dashboard (db/grid.ts): `chapters` and `grades`,
 * the row as graded against the table of contents imported at `toc_at`, is good while `built_gen` equals `gen`. Every write that
 * changes the student's grades in the book bumps `gen` (db/work.ts: an answer, a completion, a position moved back,
 * work merged in); the next grid read recomputes the row from the raw rows and stores it only if `gen` did not move
 * meanwhile. `last_at`, the newest time of the student's work in the book, is raised by every write (programs and events
 * too) and reset with the row when a write may lower it. A course with dates reads the raw rows instead.
 */
export const gridSummaries = sqliteTable(
  'grid_summaries',
  {
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    bookId: text('book_id')
      .notNull()
      .references(() => books.id, { onDelete: 'cascade' }),
    gen: integer('gen').notNull(),
    builtGen: integer('built_gen').notNull().default(-1),
    tocAt: integer('toc_at'),
    lastAt: integer('last_at'),
    /** The row's cells by chapter and totals (what the grid shows first). */
    chapters: text('chapters'),
    /** The row's pages (a chapter's open in the grid). */
    grades: text('grades'),
  },
  (t) => [primaryKey({ columns: [t.userId, t.bookId] })],
);

/**
 * What each user stores, for the storage quotas (FOLIO_QUOTA_*): program versions and answer attempts, events,
 * and the bytes of their code, answers and event data. Kept by the writes themselves (db/work.ts), in the same
 * transaction as the rows they count.
 */
export const userUsage = sqliteTable('user_usage', {
  userId: text('user_id')
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  versions: integer('versions').notNull().default(0),
  events: integer('events').notNull().default(0),
  bytes: integer('bytes').notNull().default(0),
});

/** Rate-limit counters (login and register attempts), shared by every process on the database. */
export const rateLimits = sqliteTable(
  'rate_limits',
  {
    key: text('key').primaryKey(),
    count: integer('count').notNull(),
    /** When the current window ends. */
    resetAt: integer('reset_at').notNull(),
  },
  (t) => [index('rate_limits_reset_idx').on(t.resetAt)],
);

/**
 * LTI 1.3 platforms (LMSs) allowed to launch Folio, each registered by an administrator (`folio lti platforms add`):
 * keyed by the platform's issuer and the client id it gave Folio. `deployments` is a JSON array of the deployment ids
 * accepted from it (at least one).
 */
export const ltiPlatforms = sqliteTable(
  'lti_platforms',
  {
    issuer: text('issuer').notNull(),
    clientId: text('client_id').notNull(),
    /** The platform's OIDC authorization endpoint (where the login initiation sends the browser). */
    authUrl: text('auth_url').notNull(),
    /** The platform's OAuth 2 token endpoint (for the Advantage services). */
    tokenUrl: text('token_url').notNull(),
    /** The platform's public keys, which sign its id_tokens. */
    jwksUrl: text('jwks_url').notNull(),
    deployments: text('deployments').notNull(),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.issuer, t.clientId] })],
);

/**
 * Folio's own RSA keys as an LTI tool (lib/lti-keys.ts): the public key as a JWK (served at /lti/jwks), the private
 * key encrypted with a key derived from the server secret (never stored in clear). The newest key not retired signs;
 * a retired key stays in the JWKS for a grace period, then is deleted.
 */
export const ltiKeys = sqliteTable('lti_keys', {
  kid: text('kid').primaryKey(),
  publicJwk: text('public_jwk').notNull(),
  privateKey: text('private_key').notNull(),
  createdAt: integer('created_at').notNull(),
  retiredAt: integer('retired_at'),
});

/**
 * LTI 1.3 login initiations awaiting their launch (routes/lti.ts): keyed by the SHA-256 of the `state` sent to the
 * platform, with the `nonce` the id_token must carry. Single use (deleted by the launch), 5 minutes.
 */
export const ltiStates = sqliteTable(
  'lti_states',
  {
    id: text('id').primaryKey(),
    nonce: text('nonce').notNull(),
    issuer: text('issuer').notNull(),
    clientId: text('client_id').notNull(),
    targetLinkUri: text('target_link_uri').notNull(),
    /** The platform's `lti_storage_target` when the login kept state and nonce in the platform's storage too; null: bound here only. */
    storageTarget: text('storage_target'),
    expiresAt: integer('expires_at').notNull(),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [index('lti_states_expires_idx').on(t.expiresAt)],
);

/** Who a platform's user (its issuer and `sub`) is in Folio. */
export const ltiUsers = sqliteTable(
  'lti_users',
  {
    issuer: text('issuer').notNull(),
    sub: text('sub').notNull(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.issuer, t.sub] }), index('lti_users_user_idx').on(t.userId)],
);

/** Which Folio course an LMS context (issuer, deployment, context id) launching a book is. */
export const ltiContexts = sqliteTable(
  'lti_contexts',
  {
    issuer: text('issuer').notNull(),
    deploymentId: text('deployment_id').notNull(),
    contextId: text('context_id').notNull(),
    bookId: text('book_id').notNull(),
    courseId: text('course_id')
      .notNull()
      .references(() => courses.id, { onDelete: 'cascade' }),
    /** The context's Names and Role Provisioning Services memberships URL (from the latest launch with the NRPS claim), or null. */
    membershipsUrl: text('memberships_url'),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.issuer, t.deploymentId, t.contextId, t.bookId] }), index('lti_contexts_course_idx').on(t.courseId)],
);

/**
 * The scores Folio owes an LMS gradebook (Assignment and Grade Services): one row per student and line item, made by a
 * launch with the AGS claim, holding where to post (the line item, the platform, the student's `sub`), which book
 * page is graded, the latest score computed from the student's work, and whether the platform has it yet (`pending`,
 * retried with backoff at `next_attempt_at`; `last_error` says why the last try failed).
 */
export const ltiScores = sqliteTable(
  'lti_scores',
  {
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    lineitem: text('lineitem').notNull(),
    issuer: text('issuer').notNull(),
    clientId: text('client_id').notNull(),
    deploymentId: text('deployment_id').notNull(),
    /** The platform's id of the student (the launch's `sub`): the score's `userId`. */
    sub: text('sub').notNull(),
    resourceLinkId: text('resource_link_id').notNull(),
    /** The AGS scopes the platform granted for this link, space-separated. */
    scopes: text('scopes').notNull(),
    bookId: text('book_id').notNull(),
    /** The TOC page the link launches (its questions' points are the score). */
    page: text('page').notNull(),
    courseId: text('course_id').references(() => courses.id, { onDelete: 'cascade' }),
    scoreGiven: real('score_given').notNull(),
    scoreMaximum: real('score_maximum').notNull(),
    activityProgress: text('activity_progress').notNull(),
    gradingProgress: text('grading_progress').notNull(),
    /** When the score last changed (the score's `timestamp`). */
    changedAt: integer('changed_at').notNull(),
    pending: integer('pending').notNull().$type<0 | 1>(),
    attempts: integer('attempts').notNull(),
    nextAttemptAt: integer('next_attempt_at'),
    lastError: text('last_error'),
    sentAt: integer('sent_at'),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.userId, t.lineitem] }),
    index('lti_scores_owner_idx').on(t.userId, t.bookId),
    index('lti_scores_pending_idx').on(t.pending, t.nextAttemptAt),
    index('lti_scores_course_idx').on(t.courseId),
  ],
);

/**
 * Identity providers (OpenID Connect) people sign in with (`folio auth providers add`): an id of Folio's choosing (in
 * the callback URL), the issuer and its metadata as discovered at add time (JSON), Folio's client id and secret there
 * (the secret encrypted with a key derived from the server secret, lib/oidc.ts), the email domains allowed (a JSON
 * array; empty: any) and whether a sign-in may create an account (0: it only signs in people who linked it).
 */
export const oidcProviders = sqliteTable('oidc_providers', {
  id: text('id').primaryKey(),
  issuer: text('issuer').notNull(),
  clientId: text('client_id').notNull(),
  clientSecret: text('client_secret').notNull(),
  title: text('title').notNull(),
  metadata: text('metadata').notNull(),
  allowedDomains: text('allowed_domains').notNull(),
  createAccounts: flag('create_accounts').notNull().default(on),
  createdAt: integer('created_at').notNull(),
});

/** Who a provider's user (its issuer and `sub`) is in Folio; email as the provider said at the last sign-in (never used to link). */
export const oidcIdentities = sqliteTable(
  'oidc_identities',
  {
    issuer: text('issuer').notNull(),
    sub: text('sub').notNull(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The provider it was linked through (what the person unlinks); kept when the provider is removed. */
    providerId: text('provider_id').notNull(),
    email: text('email'),
    emailVerified: flag('email_verified').notNull().default(off),
    linkedAt: integer('linked_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.issuer, t.sub] }), index('oidc_identities_user_idx').on(t.userId)],
);

/**
 * Sign-ins with a provider awaiting their callback (routes/oidc.ts): keyed by the SHA-256 of the `state` sent to the
 * provider, with the `nonce` and the PKCE verifier, the book and page to return to, and, for a link, the user linking.
 * Single use (deleted by the callback), 10 minutes.
 */
export const oidcStates = sqliteTable(
  'oidc_states',
  {
    id: text('id').primaryKey(),
    providerId: text('provider_id').notNull(),
    nonce: text('nonce').notNull(),
    codeVerifier: text('code_verifier').notNull(),
    /** The book whose page started it; null for a sign-in on the dashboard (mode dashboard). */
    bookId: text('book_id').references(() => books.id, { onDelete: 'cascade' }),
    returnUrl: text('return_url').notNull(),
    mode: text('mode', { enum: ['signin', 'link', 'dashboard'] }).notNull(),
    /** The user linking the identity (mode link); null for a sign-in. */
    userId: text('user_id').references(() => users.id, { onDelete: 'cascade' }),
    expiresAt: integer('expires_at').notNull(),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [index('oidc_states_expires_idx').on(t.expiresAt)],
);

/**
 * A research experiment of one book (`folio experiments add`): variants with weights (JSON `[{name, weight}]`, the
 * first is what students outside it see), the salt their deterministic choice is keyed with, and who it is for.
 */
export const experiments = sqliteTable(
  'experiments',
  {
    /** A slug, as book ids are; unique on the server. */
    id: text('id').primaryKey(),
    bookId: text('book_id')
      .notNull()
      .references(() => books.id, { onDelete: 'cascade' }),
    /** `[{"name": "control", "weight": 1}, …]`: at least two, names unique. */
    variants: text('variants').notNull(),
    /** 32 hex digits, random: keys the choice of a variant (lib/experiments.ts). */
    salt: text('salt').notNull(),
    /** JSON array of course ids: only their enrolled students take part; null: every student of the book. */
    courses: text('courses'),
    /** When assignment starts and ends; null: no bound. */
    startsAt: integer('starts_at'),
    endsAt: integer('ends_at'),
    /** 1: only students who gave research consent take part. */
    consentOnly: flag('consent_only').notNull().default(off),
    /** When it was stopped (`folio experiments stop`): nobody new is assigned, assignments stay; null: not stopped. */
    stoppedAt: integer('stopped_at'),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [index('experiments_book_idx').on(t.bookId)],
);

/**
 * Who got which variant of an experiment, and when and where they first met it (the exposure), once per student.
 * `replacedVariant`: the variant an account had before a login moved an anonymous student's other one onto it.
 */
export const experimentAssignments = sqliteTable(
  'experiment_assignments',
  {
    experimentId: text('experiment_id')
      .notNull()
      .references(() => experiments.id, { onDelete: 'cascade' }),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The experiment's book (exports read a book's assignments by exposure time). */
    bookId: text('book_id')
      .notNull()
      .references(() => books.id, { onDelete: 'cascade' }),
    variant: text('variant').notNull(),
    page: text('page'),
    exposedAt: integer('exposed_at').notNull(),
    replacedVariant: text('replaced_variant'),
  },
  (t) => [
    primaryKey({ columns: [t.experimentId, t.userId] }),
    index('experiment_assignments_user_idx').on(t.userId),
    index('experiment_assignments_book_time_idx').on(t.bookId, t.exposedAt),
  ],
);

/** A property name as its column's: `usernameKey` → `username_key`. */
export type Snake<S extends string> = S extends `${infer Head}${infer Rest}` ? `${Head extends Lowercase<Head> ? Head : `_${Lowercase<Head>}`}${Snake<Rest>}` : S;
/**
 * Rows as stored, keyed as raw SQL returns them (the columns' snake_case names): `Stored<User>` is what
 * `SELECT * FROM users` gives on either database.
 */
export type Stored<Row> = { [K in keyof Row as Snake<K & string>]: Row[K] };

export type Book = typeof books.$inferSelect;
export type User = typeof users.$inferSelect;
export type Session = typeof sessions.$inferSelect;
export type ProgramVersion = typeof programs.$inferSelect;
export type AnswerAttempt = typeof answers.$inferSelect;
export type Event = typeof events.$inferSelect;
export type Position = typeof positions.$inferSelect;
export type Course = typeof courses.$inferSelect;
export type Experiment = typeof experiments.$inferSelect;
export type ExperimentAssignment = typeof experimentAssignments.$inferSelect;
