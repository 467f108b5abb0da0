import { and, asc, eq, inArray, lte, sql } from 'drizzle-orm';
import type { Database, Queries } from './index.js';
import { pageGrade, type GradedAttempt, type TocIndex } from './course-reports.js';
import { first, qb, rows, select } from './query.js';
import { answers, ltiContexts, ltiScores, pageCompletions, users } from './schema.js';
import { workLock } from './work.js';

/**
 * The scores Folio owes LMS gradebooks (LTI Assignment and Grade Services): one row per student and line item, with the
 * page whose grade it is (db/course-reports.ts's rules), the score as last computed and whether it still has to be
 * sent. A launch makes the row; each save of the student's work on that page computes the score again and, when it
 * changed, marks it pending in the same request (a 2xx means it is stored); the sender (lib/lti-scores.ts) claims the
 * due rows, posts them and marks them sent, or backs them off.
 */

/** An AGS score's state as Folio computes it (the fields of application/vnd.ims.lis.v1.score+json it owns). */
export interface ScoreState {
  scoreGiven: number;
  scoreMaximum: number;
  activityProgress: 'Initialized' | 'InProgress' | 'Completed';
  gradingProgress: 'FullyGraded' | 'PendingManual';
}

/** What a launch with the AGS claim tells of where a student's score goes. */
export interface ScoreTarget {
  userId: string;
  issuer: string;
  clientId: string;
  deploymentId: string;
  sub: string;
  resourceLinkId: string;
  lineitem: string;
  scopes: readonly string[];
  bookId: string;
  page: string;
  courseId: string | undefined;
}

/** A row claimed for sending: where it goes, what it says, and its change time (the claim holds for that version only). */
export interface ClaimedScore extends ScoreState {
  userId: string;
  lineitem: string;
  issuer: string;
  clientId: string;
  sub: string;
  changedAt: number;
  attempts: number;
}

/** First retry 30 s after a failure, doubling, at most an hour apart. */
export const retryBaseMs = 30_000;
export const retryCapMs = 3_600_000;
/** How long a claim keeps other senders off a row: longer than a send may take (a token and a score, 10 s each). */
export const claimLeaseMs = 60_000;

/** The delay before attempt `attempts + 1`: 30 s doubling per failed attempt, capped at an hour, less up to a fifth at random (senders spread out). */
export function retryDelay(attempts: number, random = Math.random()): number {
  const delay = Math.min(retryCapMs, retryBaseMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(delay * (1 - 0.2 * random));
}

const completedSql = select({ page: pageCompletions.page })
  .from(pageCompletions)
  .where(and(eq(pageCompletions.userId, sql.placeholder('user')), eq(pageCompletions.bookId, sql.placeholder('book')), eq(pageCompletions.page, sql.placeholder('page'))));
const attemptFields = { question: answers.question, correct: answers.correct, score: answers.score };
// The partial index of latest answers by (user, book, page): the attempts saved with a page the table of contents does not list.
const unlistedPageAttemptsSql = select(attemptFields)
  .from(answers)
  .where(and(eq(answers.userId, sql.placeholder('user')), eq(answers.bookId, sql.placeholder('book')), eq(answers.page, sql.placeholder('page')), eq(answers.latest, 1)));

/** A student's score on a page now, read through `q` (a write's transaction, so that it sees what it is ordered after). */
export async function currentScore(q: Queries, index: TocIndex, userId: string, bookId: string, page: string): Promise<ScoreState> {
  const values = { user: userId, book: bookId, page };
  const completed = (await first(q, completedSql, values)) !== undefined;
  const at = index.pageAt.get(page);
  let attempts: GradedAttempt[] = [];
  if (at === undefined) attempts = (await rows(q, unlistedPageAttemptsSql, values)) as GradedAttempt[];
  else {
    const questions = [...index.questions].filter(([, q]) => q.page === at).map(([id]) => id);
    // Built per call (its list varies): only students with LTI rows come here.
    if (questions.length > 0) {
      attempts = (await rows(q, select(attemptFields).from(answers).where(and(eq(answers.userId, userId), eq(answers.bookId, bookId), inArray(answers.question, questions), eq(answers.latest, 1))))) as GradedAttempt[];
    }
  }
  const grade = pageGrade(index, page, attempts, completed);
  // AGS wants a positive scoreMaximum: a page whose questions are worth nothing is graded by its completion.
  const [given, maximum] = grade.possible > 0 ? [grade.earned, grade.possible] : [completed ? 1 : 0, 1];
  return {
    scoreGiven: given,
    scoreMaximum: maximum,
    activityProgress: completed ? 'Completed' : grade.attempted > 0 ? 'InProgress' : 'Initialized',
    gradingProgress: grade.ungraded > 0 ? 'PendingManual' : 'FullyGraded',
  };
}

/** A score's state as a row holds it (its progress fields as text). */
type StoredState = { [K in keyof ScoreState]: ScoreState[K] extends string ? string : ScoreState[K] };

const sameScore = (a: ScoreState, b: StoredState) =>
  a.scoreGiven === b.scoreGiven && a.scoreMaximum === b.scoreMaximum && a.activityProgress === b.activityProgress && a.gradingProgress === b.gradingProgress;

const stateFields = { scoreGiven: ltiScores.scoreGiven, scoreMaximum: ltiScores.scoreMaximum, activityProgress: ltiScores.activityProgress, gradingProgress: ltiScores.gradingProgress };
const rowKey = (userId: string, lineitem: string) => and(eq(ltiScores.userId, userId), eq(ltiScores.lineitem, lineitem));

/** The columns that make a score pending: its new state, its change time (later than the last, as platforms ignore older ones), due now. */
const pendingWith = (state: ScoreState, previousChange: number, now: number) => ({
  ...state,
  changedAt: Math.max(now, previousChange + 1),
  pending: 1 as const,
  attempts: 0,
  nextAttemptAt: now,
  lastError: null,
});

/** Computes a row's score again in `tx`; when it changed, stores it pending. Whether it did. */
async function rescore(tx: Queries, index: TocIndex, row: { userId: string; lineitem: string; bookId: string; page: string; changedAt: number } & StoredState, now: number): Promise<boolean> {
  const state = await currentScore(tx, index, row.userId, row.bookId, row.page);
  if (sameScore(state, row)) return false;
  await tx.run(qb.update(ltiScores).set(pendingWith(state, Number(row.changedAt), now)).where(rowKey(row.userId, row.lineitem)));
  return true;
}

/**
 * At a launch with the AGS claim: the student's row for the line item, made or brought up to date (the link may now
 * target another page, the platform grant other scopes), with the score as it stands: a student who already did the
 * page gets it sent. A new row with nothing done yet is not pending (there is nothing to put in the gradebook). Whether
 * a score became pending.
 */
export async function recordScoreTarget(db: Database, index: TocIndex, target: ScoreTarget, now = Date.now()): Promise<boolean> {
  return db.write(async (tx) => {
    const found = await first(tx, select({ ...stateFields, changedAt: ltiScores.changedAt }).from(ltiScores).where(rowKey(target.userId, target.lineitem)));
    const link = {
      issuer: target.issuer,
      clientId: target.clientId,
      deploymentId: target.deploymentId,
      sub: target.sub,
      resourceLinkId: target.resourceLinkId,
      scopes: target.scopes.join(' '),
      bookId: target.bookId,
      page: target.page,
      courseId: target.courseId ?? null,
    };
    const state = await currentScore(tx, index, target.userId, target.bookId, target.page);
    if (!found) {
      const pending = state.activityProgress !== 'Initialized';
      await tx.run(
        qb.insert(ltiScores).values({ userId: target.userId, lineitem: target.lineitem, ...link, ...state, changedAt: now, pending: pending ? 1 : 0, attempts: 0, nextAttemptAt: pending ? now : null, createdAt: now }),
      );
      return pending;
    }
    const changed = !sameScore(state, found);
    await tx.run(qb.update(ltiScores).set({ ...link, ...(changed ? pendingWith(state, Number(found.changedAt), now) : {}) }).where(rowKey(target.userId, target.lineitem)));
    return changed;
  }, [workLock(target.userId)]);
}

const ownerRowsSql = select({ lineitem: ltiScores.lineitem, page: ltiScores.page })
  .from(ltiScores)
  .where(and(eq(ltiScores.userId, sql.placeholder('user')), eq(ltiScores.bookId, sql.placeholder('book'))));

/** What a save changed: the page it was saved with, and the question for an answer; undefined, any page (work moved). */
export interface WorkChange {
  page?: string | undefined;
  question?: string | undefined;
}

/**
 * After a student's work in a book changed: the scores of their LTI rows whose page the change is on, computed again
 * and, when they changed, stored pending. For a student without LTI rows (nearly all) this is one look-up of the
 * (user, book) index. How many became pending.
 */
export async function rescoreAfterWork(db: Database, index: TocIndex, userId: string, bookId: string, change: WorkChange | undefined, now = Date.now()): Promise<number> {
  const owned = await rows(db, ownerRowsSql, { user: userId, book: bookId });
  if (owned.length === 0) return 0;
  const listed = change?.question === undefined ? undefined : index.questions.get(change.question);
  const page = listed ? index.toc.pages[listed.page]!.id : change?.page;
  const lineitems = owned.filter((r) => change === undefined || r.page === page).map((r) => r.lineitem);
  if (lineitems.length === 0) return 0;
  return db.write(async (tx) => {
    let pending = 0;
    for (const lineitem of lineitems) {
      const row = await first(tx, select({ ...stateFields, userId: ltiScores.userId, lineitem: ltiScores.lineitem, bookId: ltiScores.bookId, page: ltiScores.page, changedAt: ltiScores.changedAt }).from(ltiScores).where(rowKey(userId, lineitem)));
      if (row && (await rescore(tx, index, row, now))) pending++;
    }
    return pending;
  }, [workLock(userId)]);
}

const claimFields = {
  ...stateFields,
  userId: ltiScores.userId,
  lineitem: ltiScores.lineitem,
  issuer: ltiScores.issuer,
  clientId: ltiScores.clientId,
  sub: ltiScores.sub,
  changedAt: ltiScores.changedAt,
  attempts: ltiScores.attempts,
  nextAttemptAt: ltiScores.nextAttemptAt,
};

/**
 * Claims up to `limit` pending scores due at `now`, the longest waiting first: each one's next attempt is moved
 * `claimLeaseMs` on in the same write, only where it still is what this claim read, so that of concurrent senders
 * (several processes on PostgreSQL) one gets each row. A sender that dies holding a claim leaves the row due again
 * when the lease ends.
 */
export async function claimDueScores(db: Database, now = Date.now(), limit = 20): Promise<ClaimedScore[]> {
  const dueQuery = select(claimFields)
    .from(ltiScores)
    .where(and(eq(ltiScores.pending, 1), lte(ltiScores.nextAttemptAt, now)))
    .orderBy(asc(ltiScores.nextAttemptAt))
    .limit(limit);
  // Looked for outside a write first: the sender's rounds every few seconds mostly find nothing, and take no writer for it.
  if ((await rows(db, dueQuery)).length === 0) return [];
  return db.write(async (tx) => {
    const due = await rows(tx, dueQuery);
    const claimed: ClaimedScore[] = [];
    for (const { nextAttemptAt, ...row } of due) {
      const moved = await tx.run(
        qb
          .update(ltiScores)
          .set({ nextAttemptAt: now + claimLeaseMs })
          .where(and(rowKey(row.userId, row.lineitem), eq(ltiScores.pending, 1), eq(ltiScores.nextAttemptAt, Number(nextAttemptAt)))),
      );
      if (moved > 0) claimed.push({ ...row, changedAt: Number(row.changedAt), activityProgress: row.activityProgress as ScoreState['activityProgress'], gradingProgress: row.gradingProgress as ScoreState['gradingProgress'] });
    }
    return claimed;
  }, ['lti-scores:claim']);
}

/** The claimed version of a row: a score changed since its claim is pending anew and left alone. */
const claimedVersion = (score: ClaimedScore) => and(rowKey(score.userId, score.lineitem), eq(ltiScores.changedAt, score.changedAt));

/** Marks a claimed score delivered, unless it changed meanwhile. */
export async function markScoreSent(db: Database, score: ClaimedScore, now = Date.now()): Promise<void> {
  await db.write((tx) => tx.run(qb.update(ltiScores).set({ pending: 0, sentAt: now, lastError: null, nextAttemptAt: null, attempts: score.attempts + 1 }).where(claimedVersion(score))));
}

/**
 * Keeps a claimed score that could not be sent pending, with one more attempt, the error, and its next attempt: after
 * the backoff when trying again may help, else (the line item gone, a refused score) after the longest backoff, the
 * error saying so. Nothing is dropped: the course's staff see it (GET /api/courses/:course/lti-scores). The next
 * attempt's time.
 */
export async function markScoreFailed(db: Database, score: ClaimedScore, error: string, retryable: boolean, now = Date.now(), random = Math.random()): Promise<number> {
  const attempts = score.attempts + 1;
  const next = now + (retryable ? retryDelay(attempts, random) : retryCapMs);
  const lastError = retryable ? error : `${error} (not a failure that passes by itself: tried again hourly)`;
  await db.write((tx) => tx.run(qb.update(ltiScores).set({ attempts, nextAttemptAt: next, lastError: lastError.slice(0, 1000) }).where(claimedVersion(score))));
  return next;
}

/** Whether any score row exists (a server whose students never came from an LMS skips the look-up after each save). */
export async function anyScoreRows(db: Queries): Promise<boolean> {
  return (await first(db, select({ userId: ltiScores.userId }).from(ltiScores).limit(1))) !== undefined;
}

/** Whether an LMS context is linked to the course (an LTI launch made or found it): its scores may then wait here. */
export async function linkedToLms(db: Queries, courseId: string): Promise<boolean> {
  return (await first(db, select({ courseId: ltiContexts.courseId }).from(ltiContexts).where(eq(ltiContexts.courseId, courseId)).limit(1))) !== undefined;
}

/** A course's scores still to be sent, for its staff: whose, which page and line item, what, and how sending went. */
export async function pendingScores(db: Queries, courseId: string) {
  return rows(
    db,
    select({
      userId: ltiScores.userId,
      username: users.username,
      name: users.name,
      page: ltiScores.page,
      lineitem: ltiScores.lineitem,
      ...stateFields,
      changedAt: ltiScores.changedAt,
      attempts: ltiScores.attempts,
      nextAttemptAt: ltiScores.nextAttemptAt,
      lastError: ltiScores.lastError,
      sentAt: ltiScores.sentAt,
    })
      .from(ltiScores)
      .innerJoin(users, eq(users.id, ltiScores.userId))
      .where(and(eq(ltiScores.courseId, courseId), eq(ltiScores.pending, 1)))
      .orderBy(asc(users.username), asc(ltiScores.page), asc(ltiScores.lineitem)),
  );
}
