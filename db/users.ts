import { randomUUID } from 'node:crypto';
import { and, asc, eq, ne, sql } from 'drizzle-orm';
import { perDatabase, type Database } from './index.js';
import { moveWork } from './work.js';
import { sessions, users, type Role } from './schema.js';

export type UserRow = typeof users.$inferSelect;

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

const userById = perDatabase((db) => db.orm.select().from(users).where(eq(users.id, sql.placeholder('id'))).prepare());

export async function findUserById(db: Database, id: string): Promise<UserRow | undefined> {
  return userById(db).get({ id });
}

export async function findUserByUsername(db: Database, username: string): Promise<UserRow | undefined> {
  return db.orm.select().from(users).where(eq(users.usernameKey, username.toLowerCase())).get();
}

function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE';
}

/** Creates an account; throws UsernameTakenError when the username is taken (case-insensitively). */
export async function createAccount(db: Database, account: NewAccount): Promise<UserRow> {
  const now = Date.now();
  try {
    return db.orm
      .insert(users)
      .values({
        id: randomUUID(),
        username: account.username,
        usernameKey: account.username.toLowerCase(),
        name: account.name ?? null,
        email: account.email ?? null,
        role: account.role ?? 'student',
        passwordHash: account.passwordHash,
        researchConsent: account.researchConsent ?? false,
        anonymous: false,
        createdAt: now,
        updatedAt: now,
      })
      .returning()
      .get();
  } catch (err) {
    if (isUniqueViolation(err)) throw new UsernameTakenError(`the username "${account.username}" is taken`);
    throw err;
  }
}

/** A user for work done before registering or logging in. */
export async function createAnonymousUser(db: Database): Promise<UserRow> {
  const now = Date.now();
  return db.orm.insert(users).values({ id: randomUUID(), anonymous: true, createdAt: now, updatedAt: now }).returning().get();
}

/** Turns an anonymous user into an account in place: its id, and so all its work, stays. */
export async function claimAnonymousUser(db: Database, id: string, account: NewAccount): Promise<UserRow> {
  try {
    const row = db.orm
      .update(users)
      .set({
        username: account.username,
        usernameKey: account.username.toLowerCase(),
        passwordHash: account.passwordHash,
        name: account.name ?? null,
        email: account.email ?? null,
        researchConsent: account.researchConsent ?? false,
        anonymous: false,
        updatedAt: Date.now(),
      })
      .where(eq(users.id, id))
      .returning()
      .get();
    if (!row) throw new Error(`anonymous user ${id} vanished`);
    return row;
  } catch (err) {
    if (isUniqueViolation(err)) throw new UsernameTakenError(`the username "${account.username}" is taken`);
    throw err;
  }
}

/** Moves every row of `from` (an anonymous user) to `into`, then deletes `from` and its sessions, in one transaction. */
export async function mergeUsers(db: Database, from: string, into: string): Promise<void> {
  db.sqlite.transaction(() => {
    moveWork(db, from, into);
    db.orm.delete(users).where(eq(users.id, from)).run();
  })();
}

export interface UserChanges {
  name?: string | null | undefined;
  email?: string | null | undefined;
  researchConsent?: boolean | undefined;
  passwordHash?: string | undefined;
  role?: Role | undefined;
}

export async function updateUser(db: Database, id: string, changes: UserChanges): Promise<UserRow | undefined> {
  const set = Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined));
  return db.orm.update(users).set({ ...set, updatedAt: Date.now() }).where(eq(users.id, id)).returning().get();
}

/** Accounts (not anonymous users), by username. */
export async function listAccounts(db: Database): Promise<UserRow[]> {
  return db.orm.select().from(users).where(eq(users.anonymous, false)).orderBy(asc(users.usernameKey)).all();
}

/** Ends every session of a user, except the one with the given stored key (see sessionKey). */
export async function endSessionsOfUser(db: Database, userId: string, exceptKey = ''): Promise<number> {
  return db.orm.delete(sessions).where(and(eq(sessions.userId, userId), ne(sessions.id, exceptKey))).run().changes;
}
