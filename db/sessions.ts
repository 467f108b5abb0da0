import { sql } from 'drizzle-orm';
import { hash, randomBytes } from 'node:crypto';
import { perDatabase, type Database } from './index.js';
import type { Session } from './schema.js';
import { userColumnsOf, userFromRow, type StoredUser, type UserRow } from './users.js';
import { BoundedMap } from '../lib/cache.js';

/** A sessions row. */
export type SessionRow = Session;

/** The stored key of a session token: its SHA-256, so a database leak gives no usable token (one-shot: every request hashes). */
export function sessionKey(token: string): string {
  return hash('sha256', token, 'base64url');
}

/** A new random session token (256 bits). */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

type SessionWithUser = StoredUser & { s_id: string; s_kind: 'cookie' | 'token'; s_expires_at: number; s_data: string; s_created_at: number };

/** How many session look-ups a database remembers at most (about a kilobyte each). */
export const rememberedSessionsMax = 10_000;

/**
 * The session look-ups made while `db.authChanges()` stood at `changes` (SQLite): any new, changed or deleted
 * session or user row, by this process or another, moves it on and forgets them all. Most requests come from a
 * student seen a moment before: their look-up costs nothing then but the counter's read, once per turn of the
 * event loop (a read of its own takes the database's locks: a few system calls, as much as the join itself).
 * Keyed by the token itself, so a remembered one is not hashed again (the SHA-256 was ~1.3 % of scenario 1 in
 * bench/); the tokens stay in this process's memory only, as the cookie signer's remembered cookies do.
 */
class RememberedSessions {
  changes: number | undefined;
  readonly rows = new BoundedMap<string, SessionWithUser>(rememberedSessionsMax);

  /** The rows remembered at `changes`, forgetting those of an earlier count. */
  at(changes: number): Map<string, SessionWithUser> {
    if (changes !== this.changes) {
      this.rows.clear();
      this.changes = changes;
    }
    return this.rows;
  }

  /** Remembers a row read after the count stood at `changes`, unless the count has moved since. */
  keep(changes: number, token: string, row: SessionWithUser): void {
    if (changes !== this.changes) return;
    this.rows.set(token, row);
  }
}

export const rememberedSessions = perDatabase(() => new RememberedSessions());

const sessionWithUserSql = sql`SELECT s.id AS s_id, s.kind AS s_kind, s.expires_at AS s_expires_at, s.data AS s_data, s.created_at AS s_created_at, ${userColumnsOf('u')}
  FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ${sql.placeholder('id')}`;

/**
 * The live session stored for a token with its user, in one query (the lookup every authenticated request
 * makes), or undefined when unknown or expired. On SQLite a look-up is remembered until a session or user row
 * changes; the expiry is checked on every use.
 */
export async function findSessionWithUser(db: Database, token: string): Promise<{ session: SessionRow; user: UserRow } | undefined> {
  // Read before the look-up: the row it finds is then at least as new as this count.
  const changes = db.authChanges();
  const remembered = changes === undefined ? undefined : rememberedSessions(db);
  let row = remembered?.at(changes!).get(token);
  if (!row) {
    row = await db.lookup<SessionWithUser>(sessionWithUserSql, { id: sessionKey(token) });
    if (row) remembered?.keep(changes!, token, row);
  }
  if (!row || row.s_expires_at <= Date.now()) return undefined;
  return {
    session: { id: row.s_id, userId: row.id, kind: row.s_kind, expiresAt: row.s_expires_at, data: row.s_data, createdAt: row.s_created_at },
    user: userFromRow(row),
  };
}

export async function saveSession(db: Database, token: string, row: Omit<SessionRow, 'id' | 'createdAt'>): Promise<void> {
  const id = sessionKey(token);
  await db.write((tx) =>
    tx.run(
      sql`INSERT INTO sessions (id, user_id, kind, expires_at, data, created_at) VALUES (${id}, ${row.userId}, ${row.kind}, ${row.expiresAt}, ${row.data}, ${Date.now()})
       ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, kind = excluded.kind, expires_at = excluded.expires_at, data = excluded.data`),
  );
}

export async function extendSession(db: Database, token: string, expiresAt: number): Promise<void> {
  await db.write((tx) => tx.run(sql`UPDATE sessions SET expires_at = ${expiresAt} WHERE id = ${sessionKey(token)}`));
}

export async function deleteSession(db: Database, token: string): Promise<void> {
  await db.write((tx) => tx.run(sql`DELETE FROM sessions WHERE id = ${sessionKey(token)}`));
}

/** Deletes sessions past their expiry, and those created before `createdBefore` (past the maximum age) if given. */
export async function deleteExpiredSessions(db: Database, now = Date.now(), createdBefore?: number): Promise<number> {
  if (createdBefore === undefined) return db.write((tx) => tx.run(sql`DELETE FROM sessions WHERE expires_at <= ${now}`));
  return db.write((tx) => tx.run(sql`DELETE FROM sessions WHERE expires_at <= ${now} OR created_at < ${createdBefore}`));
}
