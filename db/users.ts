import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { ExportUnavailableError } from './exports.js';
import type { Database, Queries, Snapshot } from './index.js';
import type { Role, Stored, User } from './schema.js';
import { moveWork, workLock } from './work.js';
import { sql, type SQL } from 'drizzle-orm';

/** A users row as the API code sees it: the table's row, its flags as booleans. */
export type UserRow = Omit<User, 'researchConsent' | 'anonymous'> & { researchConsent: boolean; anonymous: boolean };

/** A users row as stored (snake_case, flags 0/1). */
export type StoredUser = Stored<User>;

const storedColumns = ['id', 'username', 'username_key', 'name', 'email', 'role', 'password_hash', 'research_consent', 'anonymous', 'created_at', 'updated_at'];
/** The columns of a StoredUser, for SELECT and RETURNING; with a table alias, e.g. `userColumnsOf('u')` in a join. */
export const userColumnsOf = (alias?: string) => sql.raw(storedColumns.map((c) => (alias ? `${alias}.${c}` : c)).join(', '));
const userColumns = userColumnsOf();

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

/** What the API shows of a user. */
export interface PublicUser {
  id: string;
  username: string | null;
  name: string | null;
  email: string | null;
  role: Role;
  researchConsent: boolean;
  anonymous: boolean;
}

export function publicUser(row: UserRow): PublicUser {
  return { id: row.id, username: row.username, name: row.name, email: row.email, role: row.role, researchConsent: row.researchConsent, anonymous: row.anonymous };
}

export class UsernameTakenError extends Error {
  override name = 'UsernameTakenError';
}

export interface NewAccount {
  username: string;
  passwordHash: string;
  name?: string | undefined;
  email?: string | undefined;
  role?: Role;
  researchConsent?: boolean | undefined;
}

export async function findUserById(db: Queries, id: string): Promise<UserRow | undefined> {
  const row = await db.get<StoredUser>(sql`SELECT ${userColumns} FROM users WHERE id = ${id}`);
  return row && userFromRow(row);
}

export async function findUserByUsername(db: Database, username: string): Promise<UserRow | undefined> {
  const row = await db.get<StoredUser>(sql`SELECT ${userColumns} FROM users WHERE username_key = ${username.toLowerCase()}`);
  return row && userFromRow(row);
}

/** A unique constraint refused the row (SQLite's code, or PostgreSQL's SQLSTATE). */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}

const flag = (value: boolean | undefined) => (value ? 1 : 0);

/** Creates an account; throws UsernameTakenError when the username is taken (case-insensitively). */
export async function createAccount(db: Database, account: NewAccount): Promise<UserRow> {
  const now = Date.now();
  try {
    const row = await db.write((tx) =>
      tx.get<StoredUser>(
        sql`INSERT INTO users (id, username, username_key, name, email, role, password_hash, research_consent, anonymous, created_at, updated_at)
         VALUES (${randomUUID()}, ${account.username}, ${account.username.toLowerCase()}, ${account.name ?? null}, ${account.email ?? null}, ${account.role ?? 'student'}, ${account.passwordHash}, ${flag(account.researchConsent)}, 0, ${now}, ${now}) RETURNING ${userColumns}`),
    );
    return userFromRow(row!);
  } catch (err) {
    if (isUniqueViolation(err)) throw new UsernameTakenError(`the username "${account.username}" is taken`);
    throw err;
  }
}

/** A user for work done before registering or logging in. */
export async function createAnonymousUser(db: Database): Promise<UserRow> {
  const now = Date.now();
  const row = await db.write((tx) =>
    tx.get<StoredUser>(sql`INSERT INTO users (id, anonymous, created_at, updated_at) VALUES (${randomUUID()}, 1, ${now}, ${now}) RETURNING ${userColumns}`),
  );
  return userFromRow(row!);
}

/** Turns an anonymous user into an account in place: its id, and so all its work, stays. */
export async function claimAnonymousUser(db: Database, id: string, account: NewAccount): Promise<UserRow> {
  try {
    const row = await db.write((tx) =>
      tx.get<StoredUser>(
        sql`UPDATE users SET username = ${account.username}, username_key = ${account.username.toLowerCase()}, password_hash = ${account.passwordHash}, name = ${account.name ?? null}, email = ${account.email ?? null}, research_consent = ${flag(account.researchConsent)}, anonymous = 0, updated_at = ${Date.now()}
         WHERE id = ${id} RETURNING ${userColumns}`),
    );
    if (!row) throw new Error(`anonymous user ${id} vanished`);
    return userFromRow(row);
  } catch (err) {
    if (isUniqueViolation(err)) throw new UsernameTakenError(`the username "${account.username}" is taken`);
    throw err;
  }
}

/** Moves every row of `from` (an anonymous user) to `into`, then deletes `from` and its sessions, in one transaction. */
export async function mergeUsers(db: Database, from: string, into: string): Promise<void> {
  await db.write(async (tx) => {
    await moveWork(tx, from, into);
    await tx.run(sql`DELETE FROM users WHERE id = ${from}`);
  }, [workLock(from), workLock(into)]);
}

export interface UserChanges {
  name?: string | null | undefined;
  email?: string | null | undefined;
  researchConsent?: boolean | undefined;
  passwordHash?: string | undefined;
  role?: Role | undefined;
}

const changeColumns: Record<keyof UserChanges, string> = { name: 'name', email: 'email', researchConsent: 'research_consent', passwordHash: 'password_hash', role: 'role' };

export async function updateUser(db: Database, id: string, changes: UserChanges): Promise<UserRow | undefined> {
  const set = (Object.keys(changeColumns) as (keyof UserChanges)[]).filter((key) => changes[key] !== undefined);
  const values = set.map((key) => (key === 'researchConsent' ? flag(changes.researchConsent) : changes[key]));
  const assignments = [...set.map((key, i) => sql`${sql.raw(changeColumns[key])} = ${values[i]}`), sql`updated_at = ${Date.now()}`];
  const row = await db.write((tx) => tx.get<StoredUser>(sql`UPDATE users SET ${sql.join(assignments, sql`, `)} WHERE id = ${id} RETURNING ${userColumns}`));
  return row && userFromRow(row);
}

/** Accounts (not anonymous users), by username. */
export async function listAccounts(db: Database): Promise<UserRow[]> {
  return (await db.all<StoredUser>(sql`SELECT ${userColumns} FROM users WHERE anonymous = 0 ORDER BY username_key`)).map(userFromRow);
}

/** The tables of a student's work: every table with a user_id but sessions (test/abuse.test.ts checks the schema). */
export const workTables = ['programs', 'answers', 'events', 'positions', 'page_completions'] as const;

/**
 * Deletes the anonymous users who saved nothing (no row in any work table), made and changed before `idleSince`, whose
 * sessions were all made before it and expire before `sessionsExpiringAfter` (a later expiry means a renewal, so a use,
 * after `idleSince`); their sessions go with them. Returns how many.
 */
export async function purgeIdleAnonymousUsers(db: Database, { idleSince, sessionsExpiringAfter }: { idleSince: number; sessionsExpiringAfter: number }): Promise<number> {
  const noWork = workTables.map((table) => `AND NOT EXISTS (SELECT 1 FROM ${table} w WHERE w.user_id = users.id)`).join('\n       ');
  return db.write((tx) =>
    tx.run(
      sql`DELETE FROM users WHERE anonymous = 1 AND created_at < ${idleSince} AND updated_at < ${idleSince}
       ${sql.raw(noWork)}
       AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = users.id AND (s.created_at >= ${idleSince} OR s.expires_at > ${sessionsExpiringAfter}))`),
  );
}

/** Ends every session of a user, except the one with the given stored key (see sessionKey). */
export async function endSessionsOfUser(db: Database, userId: string, exceptKey = ''): Promise<number> {
  return db.write((tx) => tx.run(sql`DELETE FROM sessions WHERE user_id = ${userId} AND id <> ${exceptKey}`));
}

// ---- students' rights: everything about a user, and deleting it ---------------------------------------------------

/** The user whose data a personal export reads (a placeholder). */
const ofUser = sql.placeholder('user');

/** The tables holding a user's work, in the order a personal export lists them, each row as the export shows it. */

const personalTables: readonly { name: string; sql: SQL; row: (r: unknown[]) => unknown }[] = [
  {
    name: 'programs',
    sql: sql`SELECT book_id, activity, version, language, page, code, saved_at FROM programs WHERE user_id = ${ofUser} ORDER BY book_id, activity, version`,
    row: ([book, activity, version, language, page, code, savedAt]) => ({ book, activity, version, language, page, code, savedAt: isoTime(savedAt) }),
  },
  {
    name: 'answers',
    sql: sql`SELECT book_id, question, attempt, kind, answer, correct, score, page, saved_at FROM answers WHERE user_id = ${ofUser} ORDER BY book_id, question, attempt`,
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
    sql: sql`SELECT book_id, type, target, page, data, client_time, server_time FROM events WHERE user_id = ${ofUser} ORDER BY book_id, server_time, id`,
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
    sql: sql`SELECT book_id, page, scroll, updated_at FROM positions WHERE user_id = ${ofUser} ORDER BY book_id`,
    row: ([book, page, scroll, updatedAt]) => ({ book, page, scroll, updatedAt: isoTime(updatedAt) }),
  },
  {
    name: 'completions',
    sql: sql`SELECT book_id, page, completed_at FROM page_completions WHERE user_id = ${ofUser} ORDER BY book_id, page`,
    row: ([book, page, completedAt]) => ({ book, page, completedAt: isoTime(completedAt) }),
  },
];

/** A stored time (ms) as ISO 8601; a value out of Date's range (stored before ranges were checked) as the number it is. */
function isoTime(ms: unknown): string | number {
  const date = new Date(ms as number);
  return Number.isNaN(date.getTime()) ? (ms as number) : date.toISOString();
}

/** The JSON text of everything about one user, a chunk at a time, read from one snapshot. */
async function* personalDocument(snapshot: Snapshot, user: UserRow): AsyncGenerator<string> {
  const sessions = await snapshot.all<{ kind: string; created_at: number; expires_at: number }>(
    sql`SELECT kind, created_at, expires_at FROM sessions WHERE user_id = ${user.id} ORDER BY created_at`);
  const account = { ...publicUser(user), createdAt: isoTime(user.createdAt), updatedAt: isoTime(user.updatedAt) };
  yield `{"exportedAt":${JSON.stringify(new Date().toISOString())},"account":${JSON.stringify(account)},"sessions":${JSON.stringify(
    sessions.map((s) => ({ kind: s.kind, createdAt: isoTime(s.created_at), expiresAt: isoTime(s.expires_at) })),
  )}`;
  for (const table of personalTables) {
    yield `,${JSON.stringify(table.name)}:[`;
    const next = snapshot.cursor(table.sql, { user: user.id }, 500);
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
 * sessions (kind and times, not the keys), every program version, every answer attempt, every event, positions and
 * completed pages, of every book. Streamed from one snapshot a cursor chunk at a time, so memory stays flat however
 * much work there is. Undefined for an unknown user. Needs a database file (ExportUnavailableError otherwise).
 */
export async function openPersonalExport(db: Database, userId: string): Promise<{ user: UserRow; stream: Readable } | undefined> {
  if (db.location === ':memory:') throw new ExportUnavailableError('a personal export needs a database file (an in-memory database cannot be read from a second connection)');
  const snapshot = await db.snapshot();
  let user: UserRow | undefined;
  try {
    const row = (await snapshot.all<StoredUser>(sql`SELECT ${userColumns} FROM users WHERE id = ${userId}`))[0];
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
    const user = await tx.get<{ username_key: string | null }>(sql`SELECT username_key FROM users WHERE id = ${userId}`);
    if (!user) return false;
    for (const table of [...workTables, 'sessions']) await tx.run(sql`DELETE FROM ${sql.raw(table)} WHERE user_id = ${userId}`);
    if (user.username_key !== null) {
      // The username's counters (plugins/rate-limit.ts): from everywhere, and from each client.
      const fromClient = `auth-user:${user.username_key}@`;
      await tx.run(sql`DELETE FROM rate_limits WHERE key = ${`auth-account:${user.username_key}`} OR substr(key, 1, ${fromClient.length}) = ${fromClient}`);
    }
    await tx.run(sql`DELETE FROM users WHERE id = ${userId}`);
    return true;
  }, [workLock(userId)]);
}
