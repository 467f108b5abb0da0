import { createHash, randomBytes } from 'node:crypto';
import { eq, lte, sql } from 'drizzle-orm';
import { perDatabase, type Database } from './index.js';
import { sessions } from './schema.js';

export type SessionRow = typeof sessions.$inferSelect;

/** The stored key of a session token: its SHA-256, so a database leak gives no usable token. */
export function sessionKey(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/** A new random session token (256 bits). */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** The live session stored for a token, or undefined when unknown or expired. */
const sessionById = perDatabase((db) => db.orm.select().from(sessions).where(eq(sessions.id, sql.placeholder('id'))).prepare());

export async function findSession(db: Database, token: string): Promise<SessionRow | undefined> {
  const row = sessionById(db).get({ id: sessionKey(token) });
  return row && row.expiresAt > Date.now() ? row : undefined;
}

export async function saveSession(db: Database, token: string, row: Omit<SessionRow, 'id' | 'createdAt'>): Promise<void> {
  const id = sessionKey(token);
  db.orm
    .insert(sessions)
    .values({ id, ...row, createdAt: Date.now() })
    .onConflictDoUpdate({ target: sessions.id, set: { userId: row.userId, kind: row.kind, expiresAt: row.expiresAt, data: row.data } })
    .run();
}

export async function extendSession(db: Database, token: string, expiresAt: number): Promise<void> {
  db.orm.update(sessions).set({ expiresAt }).where(eq(sessions.id, sessionKey(token))).run();
}

export async function deleteSession(db: Database, token: string): Promise<void> {
  db.orm.delete(sessions).where(eq(sessions.id, sessionKey(token))).run();
}

export async function deleteExpiredSessions(db: Database, now = Date.now()): Promise<number> {
  return db.orm.delete(sessions).where(lte(sessions.expiresAt, now)).run().changes;
}
