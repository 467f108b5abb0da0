import { hash, randomBytes } from 'node:crypto';
import type { Database } from './index.js';
import { userColumnsOf, userFromRow, type StoredUser, type UserRow } from './users.js';

export interface SessionRow {
  id: string;
  userId: string;
  kind: 'cookie' | 'token';
  expiresAt: number;
  data: string;
  createdAt: number;
}

/** The stored key of a session token: its SHA-256, so a database leak gives no usable token (one-shot: every request hashes). */
export function sessionKey(token: string): string {
  return hash('sha256', token, 'base64url');
}

/** A new random session token (256 bits). */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * The live session stored for a token with its user, in one query (the lookup every authenticated request
 * makes), or undefined when unknown or expired.
 */
export async function findSessionWithUser(db: Database, token: string): Promise<{ session: SessionRow; user: UserRow } | undefined> {
  const id = sessionKey(token);
  const row = await db.lookup<StoredUser & { s_kind: 'cookie' | 'token'; s_expires_at: number; s_data: string; s_created_at: number }>(
    `SELECT s.kind AS s_kind, s.expires_at AS s_expires_at, s.data AS s_data, s.created_at AS s_created_at, ${userColumnsOf('u')}
     FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?`,
    [id],
  );
  if (!row || row.s_expires_at <= Date.now()) return undefined;
  return {
    session: { id, userId: row.id, kind: row.s_kind, expiresAt: row.s_expires_at, data: row.s_data, createdAt: row.s_created_at },
    user: userFromRow(row),
  };
}

export async function saveSession(db: Database, token: string, row: Omit<SessionRow, 'id' | 'createdAt'>): Promise<void> {
  const id = sessionKey(token);
  await db.write((tx) =>
    tx.run(
      `INSERT INTO sessions (id, user_id, kind, expires_at, data, created_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, kind = excluded.kind, expires_at = excluded.expires_at, data = excluded.data`,
      [id, row.userId, row.kind, row.expiresAt, row.data, Date.now()],
    ),
  );
}

export async function extendSession(db: Database, token: string, expiresAt: number): Promise<void> {
  await db.write((tx) => tx.run('UPDATE sessions SET expires_at = ? WHERE id = ?', [expiresAt, sessionKey(token)]));
}

export async function deleteSession(db: Database, token: string): Promise<void> {
  await db.write((tx) => tx.run('DELETE FROM sessions WHERE id = ?', [sessionKey(token)]));
}

export async function deleteExpiredSessions(db: Database, now = Date.now()): Promise<number> {
  return db.write((tx) => tx.run('DELETE FROM sessions WHERE expires_at <= ?', [now]));
}
