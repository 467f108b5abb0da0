import { and, eq, gt, sql } from 'drizzle-orm';
import { createHash, randomBytes } from 'node:crypto';
import type { Database, Queries } from './index.js';
import { first, qb, select } from './query.js';
import { passwordLinks, users } from './schema.js';

/**
 * Set-password links: how a person whose account staff made (a course roster) gets a password. The link carries a
 * random token (32 bytes, base64url) in its fragment, so it reaches no server log; the database keeps only the
 * token's SHA-256, so a copy of the database cannot be used to claim accounts. A link works once, until it expires.
 */

/** The stored key of a token. */
const keyOf = (token: string) => createHash('sha256').update(token).digest('hex');

const p = sql.placeholder;
const liveLink = select({ userId: passwordLinks.userId }).from(passwordLinks).where(and(eq(passwordLinks.id, p('id')), gt(passwordLinks.expiresAt, p('now'))));

/** Makes a link for a user that works for `days` days (inside another write's transaction, or on its own); its token. */
export async function createPasswordLink(db: Queries, userId: string, days: number, now = Date.now()): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  await db.run(qb.insert(passwordLinks).values({ id: keyOf(token), userId, expiresAt: now + days * 86_400_000, createdAt: now }));
  return token;
}

/** Makes a link for a user in a write of its own; its token. */
export async function newPasswordLink(db: Database, userId: string, days: number): Promise<string> {
  return db.write((tx) => createPasswordLink(tx, userId, days));
}

/** The page a token is used on: `<origin>/account/set-password#token=TOKEN` (a fragment: never sent to a server by itself). */
export function passwordLinkUrl(origin: string, token: string): string {
  return `${origin}/account/set-password#token=${token}`;
}

/** The user a token is a live link of, or undefined (unknown, used or expired). */
export async function passwordLinkUser(db: Queries, token: string): Promise<string | undefined> {
  return (await first(db, liveLink, { id: keyOf(token), now: Date.now() }))?.userId;
}

/**
 * Uses a link: sets the user's password hash and deletes this link and every other link of the user, in one
 * transaction; the user's id, or undefined when the link is unknown, used or expired (then nothing changes).
 * Sessions are left as they are (an account made from a roster has none).
 */
export async function usePasswordLink(db: Database, token: string, passwordHash: string): Promise<string | undefined> {
  const id = keyOf(token);
  return db.write(async (tx) => {
    const link = await first(tx, liveLink, { id, now: Date.now() });
    if (!link) return undefined;
    const deleted = await tx.run(qb.delete(passwordLinks).where(eq(passwordLinks.id, id)));
    // A concurrent use in another process took it first.
    if (deleted === 0) return undefined;
    await tx.run(qb.update(users).set({ passwordHash, updatedAt: Date.now() }).where(eq(users.id, link.userId)));
    await tx.run(qb.delete(passwordLinks).where(eq(passwordLinks.userId, link.userId)));
    return link.userId;
  }, [`password-link:${id}`]);
}
