import { and, eq, gt, lte, sql } from 'drizzle-orm';
import type { Database } from './index.js';
import { conflictOn, first, named, qb, select } from './query.js';
import { rateLimits } from './schema.js';

/** A window that has ended by `now`: the next hit starts a new one. */
const ended = (now: number) => lte(rateLimits.resetAt, now);

/**
 * Counts one hit on `key` in a fixed window of `windowMs`: a new window starts at the first hit after the last
 * one ended. One statement, so processes sharing the database count together. Returns the hits in the window
 * and the milliseconds until it ends.
 */
export async function countHit(db: Database, key: string, windowMs: number, now = Date.now()): Promise<{ current: number; ttl: number }> {
  const hit = qb
    .insert(rateLimits)
    .values({ key, count: 1, resetAt: now + windowMs })
    .onConflictDoUpdate({
      target: conflictOn(rateLimits.key),
      set: {
        count: sql`CASE WHEN ${ended(now)} THEN 1 ELSE ${rateLimits.count} + 1 END`,
        resetAt: sql`CASE WHEN ${ended(now)} THEN excluded.reset_at ELSE ${rateLimits.resetAt} END`,
      },
    })
    .returning(named({ count: rateLimits.count, resetAt: rateLimits.resetAt }));
  const row = (await db.write((tx) => first(tx, hit)))!;
  return { current: row.count, ttl: Math.max(0, row.resetAt - now) };
}

/** The hits on `key` in its current window, without counting one. */
export async function readHits(db: Database, key: string, now = Date.now()): Promise<{ current: number; ttl: number }> {
  const row = await first(db, select({ count: rateLimits.count, resetAt: rateLimits.resetAt }).from(rateLimits).where(and(eq(rateLimits.key, key), gt(rateLimits.resetAt, now))));
  return row ? { current: row.count, ttl: row.resetAt - now } : { current: 0, ttl: 0 };
}

/** Forgets windows that have ended. */
export async function deleteEndedWindows(db: Database, now = Date.now()): Promise<number> {
  return db.write((tx) => tx.run(qb.delete(rateLimits).where(ended(now))));
}
