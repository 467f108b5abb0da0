import { sql } from 'drizzle-orm';
import type { Database } from './index.js';

/**
 * Counts one hit on `key` in a fixed window of `windowMs`: a new window starts at the first hit after the last
 * one ended. One statement, so processes sharing the database count together. Returns the hits in the window
 * and the milliseconds until it ends.
 */
export async function countHit(db: Database, key: string, windowMs: number, now = Date.now()): Promise<{ current: number; ttl: number }> {
  const row = await db.write((tx) =>
    tx.get<{ count: number; reset_at: number }>(
      sql`INSERT INTO rate_limits (key, count, reset_at) VALUES (${key}, 1, ${now + windowMs})
       ON CONFLICT (key) DO UPDATE SET
         count = CASE WHEN rate_limits.reset_at <= ${now} THEN 1 ELSE rate_limits.count + 1 END,
         reset_at = CASE WHEN rate_limits.reset_at <= ${now} THEN excluded.reset_at ELSE rate_limits.reset_at END
       RETURNING count, reset_at`,
    ),
  );
  return { current: row!.count, ttl: Math.max(0, row!.reset_at - now) };
}

/** The hits on `key` in its current window, without counting one. */
export async function readHits(db: Database, key: string, now = Date.now()): Promise<{ current: number; ttl: number }> {
  const row = await db.get<{ count: number; reset_at: number }>(sql`SELECT count, reset_at FROM rate_limits WHERE key = ${key} AND reset_at > ${now}`);
  return row ? { current: row.count, ttl: row.reset_at - now } : { current: 0, ttl: 0 };
}

/** Forgets windows that have ended. */
export async function deleteEndedWindows(db: Database, now = Date.now()): Promise<number> {
  return db.write((tx) => tx.run(sql`DELETE FROM rate_limits WHERE reset_at <= ${now}`));
}
