import { and, asc, eq, inArray, isNotNull } from 'drizzle-orm';
import type { Database, Queries } from './index.js';
import { qb, rows, select } from './query.js';
import { enrolments, ltiContexts, ltiUsers } from './schema.js';

/**
 * What a roster sync (lib/lti-roster.ts) reads and changes: the LMS contexts of a course that offer Names and Role
 * Provisioning Services, the Folio users of a platform's members, and the enrolments a launch or a sync made.
 */

/** An LMS context of a course with its NRPS memberships URL. */
export interface RosterContext {
  issuer: string;
  deploymentId: string;
  contextId: string;
  membershipsUrl: string;
}

/** The LMS contexts of a course whose launches carried a memberships URL, by issuer and context id. */
export async function rosterContexts(db: Queries, courseId: string): Promise<RosterContext[]> {
  const found = await rows(
    db,
    select({ issuer: ltiContexts.issuer, deploymentId: ltiContexts.deploymentId, contextId: ltiContexts.contextId, membershipsUrl: ltiContexts.membershipsUrl })
      .from(ltiContexts)
      .where(and(eq(ltiContexts.courseId, courseId), isNotNull(ltiContexts.membershipsUrl)))
      .orderBy(asc(ltiContexts.issuer), asc(ltiContexts.contextId)),
  );
  return found.map((c) => ({ ...c, membershipsUrl: c.membershipsUrl! }));
}

/** In slices: SQLite takes at most 32766 values a statement. */
const slice = 500;

/** The Folio users of a platform's users (by `sub`) who have one, as a map from `sub` to user id. */
export async function ltiUserIds(db: Queries, issuer: string, subs: readonly string[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (let i = 0; i < subs.length; i += slice) {
    const matched = await rows(db, select({ sub: ltiUsers.sub, userId: ltiUsers.userId }).from(ltiUsers).where(and(eq(ltiUsers.issuer, issuer), inArray(ltiUsers.sub, subs.slice(i, i + slice)))));
    for (const row of matched) found.set(row.sub, row.userId);
  }
  return found;
}

/** Ends the enrolments in a course that an LMS made (via 'lti') of these users; those made with a code, by staff or a roster file stay. How many ended. */
export async function unenrolLtiEnrolments(db: Database, courseId: string, userIds: readonly string[]): Promise<number> {
  let ended = 0;
  for (let i = 0; i < userIds.length; i += slice) {
    ended += await db.run(qb.delete(enrolments).where(and(eq(enrolments.courseId, courseId), eq(enrolments.via, 'lti'), inArray(enrolments.userId, userIds.slice(i, i + slice)))));
  }
  return ended;
}
