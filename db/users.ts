import { and, asc, eq, getTableName, gt, gte, lt, ne, notExists, or, sql, type SQLWrapper } from 'drizzle-orm';
import { randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Static } from 'typebox';
import { ExportUnavailableError } from './exports.js';
import type { User as UserSchema } from '../schemas/auth.js';
import type { Database, Queries, Snapshot } from './index.js';
import { first, named, qb, rows, select, storedColumns } from './query.js';
import { answers, courses, courseStaff, enrolments, events, experimentAssignments, ltiUsers, oidcIdentities, pageCompletions, positions, programs, rateLimits, sessions, users, type Role, type Stored, type User } from './schema.js';
import { moveEnrolments } from './courses.js';
import { moveAssignments } from './experiments.js';
import { moveWork, workLock } from './work.js';

/** A users row as the API code sees it: the table's row, its flags as booleans. */
export type UserRow = Omit<User, 'researchConsent' | 'anonymous'> & { researchConsent: boolean; anonymous: boolean };

/** A users row as stored (snake_case, flags 0/1). */
export type StoredUser = Stored<User>;

/** The columns of a StoredUser, for the query builder's select and returning. */
const storedUser = storedColumns(users);
/** The columns of a StoredUser in a `sql` template, with a table alias: `userColumnsOf('u')` in a join (db/sessions.ts). */
export const userColumnsOf = (alias: string) => sql.raw(Object.keys(storedUser).map((c) => `${alias}.${c}`).join(', '));

// The queries of every login, registration and new anonymous student: built once (their values are placeholders).
const p = sql.placeholder;
/** A placeholder where drizzle's types take SQL only (an update's SET). */
const bound = (name: string) => sql`${p(name)}`;
const userById = select(storedUser).from(users).where(eq(users.id, p('id')));
const userByUsernameKey = select(storedUser).from(users).where(eq(users.usernameKey, p('key')));
/** An account's columns (`anonymous` 0): inserted as a new user, or set on an anonymous one (its id and times kept). */
const account = {
  username: bound('username'),
  usernameKey: bound('usernameKey'),
  name: bound('name'),
  email: bound('email'),
  passwordHash: bound('passwordHash'),
  researchConsent: bound('researchConsent'),
  anonymous: 0,
} as const;
const insertAccount = qb
  .insert(users)
  .values({ ...account, id: p('id'), role: p('role'), createdAt: p('now'), updatedAt: p('now') })
  .returning(named(storedUser));
const insertAnonymous = qb.insert(users).values({ id: p('id'), anonymous: 1, createdAt: p('now'), updatedAt: p('now') }).returning(named(storedUser));
const claimAnonymous = qb
  .update(users)
  .set({ ...account, updatedAt: bound('now') })
  .where(eq(users.id, p('id')))
  .returning(named(storedUser));

const flag = (value: boolean | undefined) => (value ? 1 : 0);

/** The values of `account`'s placeholders. */
const accountValues = (a: NewAccount) => ({
  username: a.username,
  usernameKey: a.username.toLowerCase(),
  name: a.name ?? null,
  email: a.email ?? null,
  passwordHash: a.passwordHash,
  researchConsent: flag(a.researchConsent),
});

export function userFromRow(r: StoredUser): UserRow {
  return {
    id: r.id,
    username: r.username,
    usernameKey: r.username_key,
    name: r.name,
    email: r.email,
    role: r.role,
    passwordHash: r.password_hash,
    researchConsent: r.research_consent === 1,
    anonymous: r.anonymous === 1,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** What the API shows of a user: the reply schema's type (schemas/auth.ts). */
export type PublicUser = Static<typeof UserSchema>;

export function publicUser(row: UserRow): PublicUser {
  return { id: row.id, username: row.username, name: row.name, email: row.email, role: row.role, researchConsent: row.researchConsent, anonymous: row.anonymous };
}

export class UsernameTakenError extends Error {
  override name = 'UsernameTakenError';
}

export interface NewAccount {
  username: string;
  /** null: an account without a password yet (made from a course roster), which no login can open until a set-password link gives it one. */
  passwordHash: string | null;
  name?: string | undefined;
  email?: string | undefined;
  role?: Role;
  researchConsent?: boolean | undefined;
}

export async function findUserById(db: Queries, id: string): Promise<UserRow | undefined> {
  const row = await first(db, userById, { id });
  return row && userFromRow(row);
}

export async function findUserByUsername(db: Database, username: string): Promise<UserRow | undefined> {
  const row = await first(db, userByUsernameKey, { key: username.toLowerCase() });
  return row && userFromRow(row);
}

/** A unique constraint refused the row (SQLite's code, or PostgreSQL's SQLSTATE). */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}

/** Creates an account; throws UsernameTakenError when the username is taken (case-insensitively). */
export async function createAccount(db: Database, account: NewAccount): Promise<UserRow> {
  const now = Date.now();
  try {
    const values = { ...accountValues(account), id: randomUUID(), role: account.role ?? 'student', now };
    const row = await db.write((tx) => first(tx, insertAccount, values));
    return userFromRow(row!);
  } catch (err) {
    if (isUniqueViolation(err)) throw new UsernameTakenError(`the username "${account.username}" is taken`);
    throw err;
  }
}

/**
 * An account made by a sign-in elsewhere (an LMS launch, an identity provider): no password, role student, name and
 * email as given, and a username of `prefix`, "-" and 12 random characters (the person never types it).
 */
export async function createPasswordlessAccount(db: Database, prefix: string, claims: { name?: string | undefined; email?: string | undefined }): Promise<UserRow> {
  for (let attempt = 0; ; attempt++) {
    const username = `${prefix}-${randomBytes(9).toString('base64url').replace(/[^A-Za-z0-9]/g, 'x').toLowerCase()}`;
    try {
      return await createAccount(db, { username, passwordHash: null, name: claims.name, email: claims.email });
    } catch (err) {
      if (!(err instanceof UsernameTakenError) || attempt > 3) throw err;
    }
  }
}

/** A user for work done before registering or logging in. */
export async function createAnonymousUser(db: Database): Promise<UserRow> {
  const row = await db.write((tx) => first(tx, insertAnonymous, { id: randomUUID(), now: Date.now() }));
  return userFromRow(row!);
}

/** Turns an anonymous user into an account in place: its id, and so all its work, stays. */
export async function claimAnonymousUser(db: Database, id: string, account: NewAccount): Promise<UserRow> {
  try {
    const row = await db.write((tx) => first(tx, claimAnonymous, { ...accountValues(account), id, now: Date.now() }));
    if (!row) throw new Error(`anonymous user ${id} vanished`);
    return userFromRow(row);
  } catch (err) {
    if (isUniqueViolation(err)) throw new UsernameTakenError(`the username "${account.username}" is taken`);
    throw err;
  }
}

/**
 * Moves every row of `from` (an anonymous user) to `into`, then deletes `from` and its sessions, in one transaction:
 * its work, the courses it joined (an anonymous student who joined with a code, then logged in, stays enrolled) and its
 * experiment assignments (which win over the account's: db/experiments.ts).
 */
export async function mergeUsers(db: Database, from: string, into: string): Promise<void> {
  await db.write(async (tx) => {
    await moveWork(tx, from, into);
    await moveEnrolments(tx, from, into);
    await moveAssignments(tx, from, into);
    await tx.run(qb.delete(users).where(eq(users.id, from)));
  }, [workLock(from), workLock(into)]);
}

export interface UserChanges {
  name?: string | null | undefined;
  email?: string | null | undefined;
  researchConsent?: boolean | undefined;
  passwordHash?: string | undefined;
  role?: Role | undefined;
}

/** Changes what `changes` names (an undefined change leaves the column as it is; null clears it). */
export async function updateUser(db: Database, id: string, changes: UserChanges): Promise<UserRow | undefined> {
  const { name, email, researchConsent, passwordHash, role } = changes;
  // Drizzle leaves out of the SET the columns whose value is undefined.
  const update = qb
    .update(users)
    .set({ name, email, researchConsent: researchConsent === undefined ? undefined : flag(researchConsent), passwordHash, role, updatedAt: Date.now() })
    .where(eq(users.id, id))
    .returning(named(storedUser));
  const row = await db.write((tx) => first(tx, update));
  return row && userFromRow(row);
}

/** Accounts (not anonymous users), by username. */
export async function listAccounts(db: Database): Promise<UserRow[]> {
  return (await rows(db, select(storedUser).from(users).where(eq(users.anonymous, 0)).orderBy(asc(users.usernameKey)))).map(userFromRow);
}

/**
 * The tables of a student's work: every table with a user_id but sessions and user_usage (bookkeeping), and the
 * memberships (enrolments, course_staff, password_links, handoff_codes, lti_users), which are not work (test/abuse.test.ts checks the schema).
 */
const work = [programs, answers, events, positions, pageCompletions] as const;
/** Their names. */
export const workTables = work.map((table) => getTableName(table));

/**
 * Deletes the anonymous users who saved nothing (no row in any work table), made and changed before `idleSince`, whose
 * sessions were all made before it and expire before `sessionsExpiringAfter` (a later expiry means a renewal, so a use,
 * after `idleSince`); their sessions go with them. Returns how many.
 */
export async function purgeIdleAnonymousUsers(db: Database, { idleSince, sessionsExpiringAfter }: { idleSince: number; sessionsExpiringAfter: number }): Promise<number> {
  const any = (table: (typeof work)[number]) => select({ one: sql<number>`1` }).from(table).where(eq(table.userId, users.id));
  const usedSince = select({ one: sql<number>`1` })
    .from(sessions)
    .where(and(eq(sessions.userId, users.id), or(gte(sessions.createdAt, idleSince), gt(sessions.expiresAt, sessionsExpiringAfter))));
  const purge = qb
    .delete(users)
    .where(and(eq(users.anonymous, 1), lt(users.createdAt, idleSince), lt(users.updatedAt, idleSince), ...work.map((table) => notExists(any(table))), notExists(usedSince)));
  return db.write((tx) => tx.run(purge));
}

/** Ends every session of a user, except the one with the given stored key (see sessionKey). */
export async function endSessionsOfUser(db: Database, userId: string, exceptKey = ''): Promise<number> {
  return db.write((tx) => tx.run(qb.delete(sessions).where(and(eq(sessions.userId, userId), ne(sessions.id, exceptKey)))));
}

// ---- students' rights: everything about a user, and deleting it ---------------------------------------------------

/** The user whose data a personal export reads (a placeholder). */
const ofUser = sql.placeholder('user');

/**
 * The tables holding a user's work, in the order a personal export lists them, each row as the export shows it (the
 * cursor gives the rows as arrays, in the order of the selected columns).
 */
const personalTables: readonly { name: string; query: SQLWrapper; row: (r: unknown[]) => unknown }[] = [
  {
    name: 'programs',
    query: qb
      .select({ book: programs.bookId, activity: programs.activity, version: programs.version, language: programs.language, page: programs.page, code: programs.code, savedAt: programs.savedAt })
      .from(programs)
      .where(eq(programs.userId, ofUser))
      .orderBy(asc(programs.bookId), asc(programs.activity), asc(programs.version)),
    row: ([book, activity, version, language, page, code, savedAt]) => ({ book, activity, version, language, page, code, savedAt: isoTime(savedAt) }),
  },
  {
    name: 'answers',
    query: qb
      .select({ book: answers.bookId, question: answers.question, attempt: answers.attempt, kind: answers.kind, answer: answers.answer, correct: answers.correct, score: answers.score, page: answers.page, savedAt: answers.savedAt })
      .from(answers)
      .where(eq(answers.userId, ofUser))
      .orderBy(asc(answers.bookId), asc(answers.question), asc(answers.attempt)),
    row: ([book, question, attempt, kind, answer, correct, score, page, savedAt]) => ({
      book,
      question,
      attempt,
      kind,
      answer: JSON.parse(answer as string) as unknown,
      correct: correct === null ? null : correct === 1,
      score,
      page,
      savedAt: isoTime(savedAt),
    }),
  },
  {
    name: 'events',
    query: qb
      .select({ book: events.bookId, type: events.type, target: events.target, page: events.page, data: events.data, clientTime: events.clientTime, serverTime: events.serverTime })
      .from(events)
      .where(eq(events.userId, ofUser))
      .orderBy(asc(events.bookId), asc(events.serverTime), asc(events.id)),
    row: ([book, type, target, page, data, clientTime, serverTime]) => ({
      book,
      type,
      target,
      page,
      data: data === null ? null : (JSON.parse(data as string) as unknown),
      clientTime: clientTime === null ? null : isoTime(clientTime),
      serverTime: isoTime(serverTime),
    }),
  },
  {
    name: 'positions',
    query: qb
      .select({ book: positions.bookId, page: positions.page, scroll: positions.scroll, updatedAt: positions.updatedAt })
      .from(positions)
      .where(eq(positions.userId, ofUser))
      .orderBy(asc(positions.bookId)),
    row: ([book, page, scroll, updatedAt]) => ({ book, page, scroll, updatedAt: isoTime(updatedAt) }),
  },
  {
    name: 'completions',
    query: qb
      .select({ book: pageCompletions.bookId, page: pageCompletions.page, completedAt: pageCompletions.completedAt })
      .from(pageCompletions)
      .where(eq(pageCompletions.userId, ofUser))
      .orderBy(asc(pageCompletions.bookId), asc(pageCompletions.page)),
    row: ([book, page, completedAt]) => ({ book, page, completedAt: isoTime(completedAt) }),
  },
];

/** A stored time (ms) as ISO 8601; a value out of Date's range (stored before ranges were checked) as the number it is. */
function isoTime(ms: unknown): string | number {
  const date = new Date(ms as number);
  return Number.isNaN(date.getTime()) ? (ms as number) : date.toISOString();
}

// The courses and LMS accounts of a personal export (small: read whole, before the work tables' cursors).
const courseOfRow = { course: courses.id, book: courses.bookId, title: courses.title, term: courses.term };
const studiedCourses = select({ ...courseOfRow, since: enrolments.enrolledAt })
  .from(enrolments)
  .innerJoin(courses, eq(courses.id, enrolments.courseId))
  .where(eq(enrolments.userId, p('user')));
const taughtCourses = select({ ...courseOfRow, as: courseStaff.role, since: courseStaff.addedAt })
  .from(courseStaff)
  .innerJoin(courses, eq(courses.id, courseStaff.courseId))
  .where(eq(courseStaff.userId, p('user')));
const identitiesOf = select({ provider: oidcIdentities.providerId, issuer: oidcIdentities.issuer, subject: oidcIdentities.sub, email: oidcIdentities.email, emailVerified: oidcIdentities.emailVerified, linkedAt: oidcIdentities.linkedAt })
  .from(oidcIdentities)
  .where(eq(oidcIdentities.userId, p('user')))
  .orderBy(asc(oidcIdentities.issuer), asc(oidcIdentities.sub));
const experimentsOf = select({ experiment: experimentAssignments.experimentId, book: experimentAssignments.bookId, variant: experimentAssignments.variant, page: experimentAssignments.page, exposedAt: experimentAssignments.exposedAt })
  .from(experimentAssignments)
  .where(eq(experimentAssignments.userId, p('user')))
  .orderBy(asc(experimentAssignments.bookId), asc(experimentAssignments.experimentId));
const lmsAccountsOf = select({ issuer: ltiUsers.issuer, subject: ltiUsers.sub, linkedAt: ltiUsers.createdAt }).from(ltiUsers).where(eq(ltiUsers.userId, p('user'))).orderBy(asc(ltiUsers.issuer), asc(ltiUsers.sub));

/** The JSON text of everything about one user, a chunk at a time, read from one snapshot. */
async function* personalDocument(snapshot: Snapshot, user: UserRow): AsyncGenerator<string> {
  const found = await rows(
    snapshot,
    select({ kind: sessions.kind, createdAt: sessions.createdAt, expiresAt: sessions.expiresAt }).from(sessions).where(eq(sessions.userId, user.id)).orderBy(asc(sessions.createdAt)),
  );
  // One after another: a PostgreSQL snapshot is one connection, which runs one query at a time.
  const studied = await rows(snapshot, studiedCourses, { user: user.id });
  const taught = await rows(snapshot, taughtCourses, { user: user.id });
  const lms = await rows(snapshot, lmsAccountsOf, { user: user.id });
  const identities = await rows(snapshot, identitiesOf, { user: user.id });
  const assigned = await rows(snapshot, experimentsOf, { user: user.id });
  const courseList = [...studied.map((c) => ({ ...c, as: 'student' as const })), ...taught]
    .sort((a, b) => (a.course < b.course ? -1 : a.course > b.course ? 1 : 0))
    .map((c) => ({ course: c.course, book: c.book, title: c.title, term: c.term, as: c.as, since: isoTime(c.since) }));
  const account = { ...publicUser(user), createdAt: isoTime(user.createdAt), updatedAt: isoTime(user.updatedAt) };
  yield `{"exportedAt":${JSON.stringify(new Date().toISOString())},"account":${JSON.stringify(account)},"sessions":${JSON.stringify(
    found.map((s) => ({ kind: s.kind, createdAt: isoTime(s.createdAt), expiresAt: isoTime(s.expiresAt) })),
  )},"courses":${JSON.stringify(courseList)},"lmsAccounts":${JSON.stringify(lms.map((a) => ({ issuer: a.issuer, subject: a.subject, linkedAt: isoTime(a.linkedAt) })))},"identityProviders":${JSON.stringify(
    identities.map((i) => ({ provider: i.provider, issuer: i.issuer, subject: i.subject, email: i.email, emailVerified: Boolean(i.emailVerified), linkedAt: isoTime(i.linkedAt) })),
  )},"experiments":${JSON.stringify(assigned.map((a) => ({ ...a, exposedAt: isoTime(a.exposedAt) })))}`;
  for (const table of personalTables) {
    yield `,${JSON.stringify(table.name)}:[`;
    const next = snapshot.cursor(table.query, { user: user.id }, 500);
    let separator = '';
    for (let rows = await next(); rows.length > 0; rows = await next()) {
      let chunk = '';
      for (const row of rows) {
        chunk += separator + JSON.stringify(table.row(row));
        separator = ',';
      }
      yield chunk;
    }
    yield ']';
  }
  yield '}\n';
}

/**
 * Everything Folio holds about a user, as one JSON document: the account (without the password hash), the
 * sessions (kind and times, not the keys), the courses they study or teach, the LMS accounts that log in as them, every program version, every answer attempt, every event, positions and
 * completed pages, of every book. Streamed from one snapshot a cursor chunk at a time, so memory stays flat however
 * much work there is. Undefined for an unknown user. Needs a database file (ExportUnavailableError otherwise).
 */
export async function openPersonalExport(db: Database, userId: string): Promise<{ user: UserRow; stream: Readable } | undefined> {
  if (db.location === ':memory:') throw new ExportUnavailableError('a personal export needs a database file (an in-memory database cannot be read from a second connection)');
  const snapshot = await db.snapshot();
  let user: UserRow | undefined;
  try {
    const [row] = await rows(snapshot, userById, { id: userId });
    user = row && userFromRow(row);
  } catch (err) {
    await snapshot.close();
    throw err;
  }
  if (!user) {
    await snapshot.close();
    return undefined;
  }
  const chunks = personalDocument(snapshot, user);
  // The snapshot is released when the stream ends or is destroyed, read or not (a HEAD, a client gone before the first byte).
  const stream = new Readable({
    read() {
      chunks.next().then(
        ({ value, done }) => this.push(done ? null : value),
        (err: Error) => this.destroy(err),
      );
    },
    destroy(err, callback) {
      chunks
        .return(undefined)
        .finally(() => snapshot.close())
        .then(
          () => callback(err),
          (closeErr: Error) => callback(err ?? closeErr),
        );
    },
  });
  return { user, stream };
}

/**
 * Deletes a user and every row about them, in one transaction: programs, answers, events, positions, completed
 * pages, sessions, and the login counters of their username (their windows would end within minutes anyway). False
 * when there was no such user.
 */
export async function deleteUser(db: Database, userId: string): Promise<boolean> {
  return db.write(async (tx) => {
    const user = await first(tx, select({ usernameKey: users.usernameKey }).from(users).where(eq(users.id, userId)));
    if (!user) return false;
    for (const table of [...work, sessions]) await tx.run(qb.delete(table).where(eq(table.userId, userId)));
    if (user.usernameKey !== null) {
      // The username's counters (plugins/rate-limit.ts): from everywhere, and from each client.
      const fromClient = `auth-user:${user.usernameKey}@`;
      await tx.run(qb.delete(rateLimits).where(or(eq(rateLimits.key, `auth-account:${user.usernameKey}`), eq(sql`substr(${rateLimits.key}, 1, ${fromClient.length})`, fromClient))));
    }
    await tx.run(qb.delete(users).where(eq(users.id, userId)));
    return true;
  }, [workLock(userId)]);
}
