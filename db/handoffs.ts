import { and, eq, gt, isNotNull, isNull, lte } from 'drizzle-orm';
import { createHash, randomBytes } from 'node:crypto';
import type { Database } from './index.js';
import { first, qb, select } from './query.js';
import { handoffCodes } from './schema.js';

/**
 * Hand-off codes: how a login completed on Folio's own pages (an LTI launch, an identity provider's callback) reaches
 * the book page. Folio redirects to the page with `#folio-handoff=CODE` (a fragment: never sent to a server by
 * itself); the page's client exchanges the code for a session (POST /api/auth/handoff). A code is random (32 bytes,
 * base64url), works once, for one book, within 60 s; the database keeps only its SHA-256.
 *
 * A dashboard code (`courseId` set) is the other kind: it logs course staff in on Folio's own dashboard, at that course
 * (an LTI launch of the dashboard, routes/handoff.ts). It lives 5 minutes (the instructor may read the launch page
 * before opening the dashboard) and is redeemed only there, as a book page's code is only on a page of its book.
 */

/** How long a code lives. */
export const handoffLifetime = 60_000;

/** How long a dashboard code lives. */
export const dashboardHandoffLifetime = 5 * 60_000;

/** The stored key of a code. */
const keyOf = (code: string) => createHash('sha256').update(code).digest('hex');

/**
 * Makes a code that logs `userId` in on a page of `bookId` within 60 s of `now`; expired codes are removed with it.
 * `link`: an identity provider's identity (JSON, db/oidc.ts) that the redemption links to the user, only when the
 * page redeeming it is that user's own session (routes/handoff.ts).
 */
export async function createHandoff(db: Database, userId: string, bookId: string, now = Date.now(), link: string | null = null): Promise<string> {
  const code = randomBytes(32).toString('base64url');
  await db.write(async (tx) => {
    await tx.run(qb.delete(handoffCodes).where(lte(handoffCodes.expiresAt, now)));
    await tx.run(qb.insert(handoffCodes).values({ id: keyOf(code), userId, bookId, link, expiresAt: now + handoffLifetime, createdAt: now }));
  });
  return code;
}

/**
 * Uses a code on a page of `bookId`: its user's id, once (the code is deleted), or undefined when the code is unknown,
 * used, expired or another book's (then nothing changes). Of concurrent uses, in one process or several, one wins.
 */
export async function redeemHandoff(db: Database, code: string, bookId: string, now = Date.now()): Promise<string | undefined> {
  return (await takeHandoff(db, code, bookId, now))?.userId;
}

/** As redeemHandoff, with the identity the code links (null for a plain login). */
export async function takeHandoff(db: Database, code: string, bookId: string, now = Date.now()): Promise<{ userId: string; link: string | null } | undefined> {
  const id = keyOf(code);
  return db.write(
    async (tx) => {
      const live = await first(
        tx,
        select({ userId: handoffCodes.userId, link: handoffCodes.link })
          .from(handoffCodes)
          .where(and(eq(handoffCodes.id, id), eq(handoffCodes.bookId, bookId), isNull(handoffCodes.courseId), gt(handoffCodes.expiresAt, now))),
      );
      if (!live) return undefined;
      // A concurrent use took it first (the lock makes this unlikely on PostgreSQL; the count makes it certain).
      const deleted = await tx.run(qb.delete(handoffCodes).where(eq(handoffCodes.id, id)));
      return deleted === 0 ? undefined : live;
    },
    [`handoff:${id}`],
  );
}

/** Makes a dashboard code: it logs `userId` in on the dashboard, at course `courseId` (of book `bookId`), once, within 5 minutes. */
export async function createDashboardHandoff(db: Database, userId: string, course: { id: string; bookId: string }, now = Date.now()): Promise<string> {
  const code = randomBytes(32).toString('base64url');
  await db.write(async (tx) => {
    await tx.run(qb.delete(handoffCodes).where(lte(handoffCodes.expiresAt, now)));
    await tx.run(qb.insert(handoffCodes).values({ id: keyOf(code), userId, bookId: course.bookId, courseId: course.id, expiresAt: now + dashboardHandoffLifetime, createdAt: now }));
  });
  return code;
}

/** Uses a dashboard code, once: its user and course, or undefined when it is unknown, used, expired or a book page's. */
export async function takeDashboardHandoff(db: Database, code: string, now = Date.now()): Promise<{ userId: string; courseId: string } | undefined> {
  const id = keyOf(code);
  return db.write(
    async (tx) => {
      const live = await first(
        tx,
        select({ userId: handoffCodes.userId, courseId: handoffCodes.courseId })
          .from(handoffCodes)
          .where(and(eq(handoffCodes.id, id), isNotNull(handoffCodes.courseId), gt(handoffCodes.expiresAt, now))),
      );
      if (!live?.courseId) return undefined;
      const deleted = await tx.run(qb.delete(handoffCodes).where(eq(handoffCodes.id, id)));
      return deleted === 0 ? undefined : { userId: live.userId, courseId: live.courseId };
    },
    [`handoff:${id}`],
  );
}

/** Deletes the codes expired at `now` (the periodic sweep); how many. */
export async function deleteExpiredHandoffs(db: Database, now = Date.now()): Promise<number> {
  return db.write((tx) => tx.run(qb.delete(handoffCodes).where(lte(handoffCodes.expiresAt, now))));
}
