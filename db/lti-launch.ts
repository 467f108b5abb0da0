import { and, eq, gt, lte } from 'drizzle-orm';
import { createHash, randomBytes } from 'node:crypto';
import type { Database } from './index.js';
import { addStaff, createCourse, CourseExistsError, enrol } from './courses.js';
import { first, qb, select } from './query.js';
import { courses, ltiContexts, ltiStates, ltiUsers, type StaffRole } from './schema.js';
import { createPasswordlessAccount, deleteUser, findUserById, type UserRow } from './users.js';

/**
 * What an LTI 1.3 launch keeps (routes/lti.ts, lib/lti-launch.ts): the login initiations awaiting their launch
 * (`state` and `nonce`, single use, 5 minutes: bound server-side, so no cookie is needed), who a platform's user is
 * (issuer, `sub`), and which course an LMS context is for a book (issuer, deployment, context id).
 */

/** How long a login initiation waits for its launch. */
export const ltiStateLifetime = 5 * 60_000;

const keyOf = (state: string) => createHash('sha256').update(state).digest('hex');

export interface LtiLogin {
  issuer: string;
  clientId: string;
  targetLinkUri: string;
}

/** A login initiation awaiting its launch, as stored. */
export interface PendingLtiLogin extends LtiLogin {
  nonce: string;
  /**
   * The platform's `lti_storage_target` when the login kept the state in the platform's storage (lib/lti-storage.ts):
   * the launch then also needs the browser to read it back from there. Undefined: the state is bound server-side only.
   */
  storageTarget: string | undefined;
}

/**
 * Records a login initiation: the new `state` and `nonce` to send the platform (expired ones are removed with it);
 * `storageTarget` when the platform offers its storage for them (`lti_storage_target`).
 */
export async function startLtiLogin(db: Database, login: LtiLogin & { storageTarget?: string | undefined }, now = Date.now()): Promise<{ state: string; nonce: string }> {
  const { storageTarget, ...stored } = login;
  const state = randomBytes(32).toString('base64url');
  const nonce = randomBytes(32).toString('base64url');
  await db.write(async (tx) => {
    await tx.run(qb.delete(ltiStates).where(lte(ltiStates.expiresAt, now)));
    await tx.run(qb.insert(ltiStates).values({ id: keyOf(state), nonce, ...stored, storageTarget: storageTarget ?? null, expiresAt: now + ltiStateLifetime, createdAt: now }));
  });
  return { state, nonce };
}

const pendingColumns = { nonce: ltiStates.nonce, issuer: ltiStates.issuer, clientId: ltiStates.clientId, targetLinkUri: ltiStates.targetLinkUri, storageTarget: ltiStates.storageTarget };
const pending = ({ storageTarget, ...row }: { nonce: string; issuer: string; clientId: string; targetLinkUri: string; storageTarget: string | null }): PendingLtiLogin => ({ ...row, storageTarget: storageTarget ?? undefined });

/** A `state`'s login, without using it (undefined when unknown, used or expired). */
export async function findLtiState(db: Database, state: string, now = Date.now()): Promise<PendingLtiLogin | undefined> {
  const found = await first(db, select(pendingColumns).from(ltiStates).where(and(eq(ltiStates.id, keyOf(state)), gt(ltiStates.expiresAt, now))));
  return found && pending(found);
}

/** Uses a `state`, once: its login (with the nonce), or undefined when it is unknown, used or expired. Of concurrent uses, one wins. */
export async function takeLtiState(db: Database, state: string, now = Date.now()): Promise<PendingLtiLogin | undefined> {
  const id = keyOf(state);
  return db.write(
    async (tx) => {
      const found = await first(tx, select(pendingColumns).from(ltiStates).where(and(eq(ltiStates.id, id), gt(ltiStates.expiresAt, now))));
      if (!found) return undefined;
      const deleted = await tx.run(qb.delete(ltiStates).where(eq(ltiStates.id, id)));
      return deleted === 0 ? undefined : pending(found);
    },
    [`lti-state:${id}`],
  );
}

/** Deletes the login initiations expired at `now`; how many. */
export async function deleteExpiredLtiStates(db: Database, now = Date.now()): Promise<number> {
  return db.write((tx) => tx.run(qb.delete(ltiStates).where(lte(ltiStates.expiresAt, now))));
}

/**
 * The user a platform's user (issuer, `sub`) is: found, or created (an account without a password, role student,
 * name and email from the claims). Of concurrent first launches, one account stays.
 */
export async function ltiUser(db: Database, issuer: string, sub: string, claims: { name?: string | undefined; email?: string | undefined }): Promise<{ user: UserRow; created: boolean }> {
  const known = async () => {
    const row = await first(db, select({ userId: ltiUsers.userId }).from(ltiUsers).where(and(eq(ltiUsers.issuer, issuer), eq(ltiUsers.sub, sub))));
    return row && (await findUserById(db, row.userId));
  };
  const found = await known();
  if (found) return { user: found, created: false };
  const user = await createPasswordlessAccount(db, 'lti', claims);
  const linked = await db.run(qb.insert(ltiUsers).values({ issuer, sub, userId: user.id, createdAt: Date.now() }).onConflictDoNothing());
  if (linked > 0) return { user, created: true };
  // Another launch of the same person linked theirs first: that one stays.
  await deleteUser(db, user.id);
  const winner = await known();
  if (!winner) throw new Error(`the LTI user ${sub} of ${issuer} vanished`);
  return { user: winner, created: false };
}

export interface LtiContext {
  issuer: string;
  deploymentId: string;
  contextId: string;
  bookId: string;
  /** The context's title and label (claims), for the new course's title and id. */
  title?: string | undefined;
  label?: string | undefined;
  /** The context's NRPS memberships URL from the launch, kept (the latest wins) for roster syncs. */
  membershipsUrl?: string | undefined;
}

/** A course id made from a context's label or title: a slug of it (at most 40 characters) and a short random suffix. */
export function courseIdFor(context: Pick<LtiContext, 'title' | 'label'>): string {
  const base = (context.label ?? context.title ?? '')
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  const suffix = randomBytes(4).toString('hex').slice(0, 6);
  return `${base || 'lti'}-${suffix}`;
}

/** The course of an LMS context for a book: found, or created (titled from the context). Of concurrent first launches, one course stays. */
export async function ltiCourse(db: Database, context: LtiContext): Promise<{ courseId: string; created: boolean }> {
  const key = and(eq(ltiContexts.issuer, context.issuer), eq(ltiContexts.deploymentId, context.deploymentId), eq(ltiContexts.contextId, context.contextId), eq(ltiContexts.bookId, context.bookId));
  const known = async () => first(db, select({ courseId: ltiContexts.courseId, membershipsUrl: ltiContexts.membershipsUrl }).from(ltiContexts).where(key));
  const found = await known();
  if (found) {
    if (context.membershipsUrl !== undefined && context.membershipsUrl !== found.membershipsUrl) {
      await db.run(qb.update(ltiContexts).set({ membershipsUrl: context.membershipsUrl }).where(key));
    }
    return { courseId: found.courseId, created: false };
  }
  let courseId: string | undefined;
  for (let attempt = 0; !courseId; attempt++) {
    try {
      const id = courseIdFor(context);
      await createCourse(db, { id, bookId: context.bookId, title: (context.title ?? context.label ?? 'Course from the LMS').slice(0, 200) });
      courseId = id;
    } catch (err) {
      if (!(err instanceof CourseExistsError) || attempt > 3) throw err;
    }
  }
  const linked = await db.run(
    qb
      .insert(ltiContexts)
      .values({ issuer: context.issuer, deploymentId: context.deploymentId, contextId: context.contextId, bookId: context.bookId, courseId, membershipsUrl: context.membershipsUrl ?? null, createdAt: Date.now() })
      .onConflictDoNothing(),
  );
  if (linked > 0) return { courseId, created: true };
  await db.run(qb.delete(courses).where(eq(courses.id, courseId)));
  const winner = await known();
  if (!winner) throw new Error(`the course of LTI context ${context.contextId} vanished`);
  return { courseId: winner.courseId, created: false };
}

/** Gives a user their place in a course: staff in `staff`'s role, else an enrolled student (via 'lti'). */
export async function placeInCourse(db: Database, courseId: string, userId: string, staff: StaffRole | undefined): Promise<void> {
  if (staff) await addStaff(db, courseId, userId, staff);
  else await enrol(db, courseId, [userId], 'lti');
}
