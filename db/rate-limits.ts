import { and, eq, gt, lte, sql } from 'drizzle-orm';
import type { Database } from './index.js';
import { conflictOn, first, named, qb, select } from './query.js';
import { rateLimits } from './schema.js';

const p = sql.placeholder;
/** A window that has ended by `now`: the next hit starts a new one. */
const ended = lte(rateLimits.resetAt, p('now'));

// Built once (a login or registration counts a hit or two): the values are placeholders.
const hit = qb
  .insert(rateLimits)
  .values({ key: p('key'), count: 1, resetAt: p('resetAt') })
  .onConflictDoUpdate({
    target: conflictOn(rateLimits.key),
    set: {
      count: sql`CASE WHEN ${ended} THEN 1 ELSE ${rateLimits.count} + 1 END`,
      resetAt: sql`CASE WHEN ${ended} THEN excluded.reset_at ELSE ${rateLimits.resetAt} END`,
    },
  })
  .returning(named({ count: rateLimits.count, resetAt: rateLimits.resetAt }));
const hits = select({ count: rateLimits.count, resetAt: rateLimits.resetAt })
  .from(rateLimits)
  .where(and(eq(rateLimits.key, p('key')), gt(rateLimits.resetAt, p('now'))));
const endedWindows = qb.delete(rateLimits).where(ended);

/**
 * Counts one hit on `key` in a fixed window of `windowMs`: a new window starts at the first hit after the last
 * one ended. One statement, so processes sharing the database count together. Returns the hits in the window
 * and the milliseconds until it ends.
 */
export async function countHit(db: Database, key: string, windowMs: number, now = Date.now()): Promise<{ current: number; ttl: number }> {
  const row = (await db.write((tx) => first(tx, hit, { key, resetAt: now + windowMs, now })))!;
  return { current: row.count, ttl: Math.max(0, row.resetAt - now) };
}

/** The hits on `key` in its current window, without counting one. */
export async function readHits(db: Database, key: string, now = Date.now()): Promise<{ current: number; ttl: number }> {
  const row = await first(db, hits, { key, now });
  return row ? { current: row.count, ttl: row.resetAt - now } : { current: 0, ttl: 0 };
}

/** Forgets windows that have ended. */
export async function deleteEndedWindows(db: Database, now = Date.now()): Promise<number> {
  return db.write((tx) => tx.run(endedWindows, { now }));
}
