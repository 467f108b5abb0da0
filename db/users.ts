import { randomUUID } from 'node:crypto';
import type { Database, Queries } from './index.js';
import type { Role } from './tables.js';
import { moveWork, workLock } from './work.js';

/** A users row as the API code sees it. */
export interface UserRow {
  id: string;
  username: string | null;
  usernameKey: string | null;
  name: string | null;
  email: string | null;
  role: Role;
  passwordHash: string | null;
  researchConsent: boolean;
  anonymous: boolean;
  createdAt: number;
  updatedAt: number;
}

/** A users row as stored (snake_case, flags 0/1). */
export interface StoredUser {
  id: string;
  username: string | null;
  username_key: string | null;
  name: string | null;
  email: string | null;
  role: Role;
  password_hash: string | null;
  research_consent: number;
  anonymous: number;
  created_at: number;
  updated_at: number;
}

const storedColumns = ['id', 'username', 'username_key', 'name', 'email', 'role', 'password_hash', 'research_consent', 'anonymous', 'created_at', 'updated_at'];
/** The columns of a StoredUser, for SELECT and RETURNING; with a table alias, e.g. `userColumnsOf('u')` in a join. */
export const userColumnsOf = (alias?: string) => storedColumns.map((c) => (alias ? `${alias}.${c}` : c)).join(', ');
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
  const row = await db.get<StoredUser>(`SELECT ${userColumns} FROM users WHERE id = ?`, [id]);
  return row && userFromRow(row);
}

export async function findUserByUsername(db: Database, username: string): Promise<UserRow | undefined> {
  const row = await db.get<StoredUser>(`SELECT ${userColumns} FROM users WHERE username_key = ?`, [username.toLowerCase()]);
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
        `INSERT INTO users (id, username, username_key, name, email, role, password_hash, research_consent, anonymous, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?) RETURNING ${userColumns}`,
        [randomUUID(), account.username, account.username.toLowerCase(), account.name ?? null, account.email ?? null, account.role ?? 'student', account.passwordHash, flag(account.researchConsent), now, now],
      ),
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
    tx.get<StoredUser>(`INSERT INTO users (id, anonymous, created_at, updated_at) VALUES (?, 1, ?, ?) RETURNING ${userColumns}`, [randomUUID(), now, now]),
  );
  return userFromRow(row!);
}

/** Turns an anonymous user into an account in place: its id, and so all its work, stays. */
export async function claimAnonymousUser(db: Database, id: string, account: NewAccount): Promise<UserRow> {
  try {
    const row = await db.write((tx) =>
      tx.get<StoredUser>(
        `UPDATE users SET username = ?, username_key = ?, password_hash = ?, name = ?, email = ?, research_consent = ?, anonymous = 0, updated_at = ?
         WHERE id = ? RETURNING ${userColumns}`,
        [account.username, account.username.toLowerCase(), account.passwordHash, account.name ?? null, account.email ?? null, flag(account.researchConsent), Date.now(), id],
      ),
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
    await tx.run('DELETE FROM users WHERE id = ?', [from]);
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
  const assignments = [...set.map((key) => `${changeColumns[key]} = ?`), 'updated_at = ?'].join(', ');
  const row = await db.write((tx) => tx.get<StoredUser>(`UPDATE users SET ${assignments} WHERE id = ? RETURNING ${userColumns}`, [...values, Date.now(), id]));
  return row && userFromRow(row);
}

/** Accounts (not anonymous users), by username. */
export async function listAccounts(db: Database): Promise<UserRow[]> {
  return (await db.all<StoredUser>(`SELECT ${userColumns} FROM users WHERE anonymous = 0 ORDER BY username_key`)).map(userFromRow);
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
      `DELETE FROM users WHERE anonymous = 1 AND created_at < @idleSince AND updated_at < @idleSince
       ${noWork}
       AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = users.id AND (s.created_at >= @idleSince OR s.expires_at > @sessionsExpiringAfter))`,
      { idleSince, sessionsExpiringAfter },
    ),
  );
}

/** Ends every session of a user, except the one with the given stored key (see sessionKey). */
export async function endSessionsOfUser(db: Database, userId: string, exceptKey = ''): Promise<number> {
  return db.write((tx) => tx.run('DELETE FROM sessions WHERE user_id = ? AND id <> ?', [userId, exceptKey]));
}
