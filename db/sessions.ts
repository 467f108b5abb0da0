import { createHash, randomBytes } from 'node:crypto';
import type { Database } from './index.js';

export interface SessionRow {
  id: string;
  userId: string;
  kind: 'cookie' | 'token';
  expiresAt: number;
  data: string;
  createdAt: number;
}

/** The stored key of a session token: its SHA-256, so a database leak gives no usable token. */
export function sessionKey(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/** A new random session token (256 bits). */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** The live session stored for a token, or undefined when unknown or expired. */
export async function findSession(db: Database, token: string): Promise<SessionRow | undefined> {
  const row = await db.get<SessionRow>(
    'SELECT id, user_id AS "userId", kind, expires_at AS "expiresAt", data, created_at AS "createdAt" FROM sessions WHERE id = ?',
    [sessionKey(token)],
  );
  return row && row.expiresAt > Date.now() ? row : undefined;
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
