import { and, asc, eq, getTableColumns, inArray, sql } from 'drizzle-orm';
import { checkVariants, chooseVariant, newSalt, twoProportionZTest, welchTTest, type Variant } from '../lib/experiments.js';
import type { Database, Queries } from './index.js';
import { conflictOn, first, qb, rows, select } from './query.js';
import { answers, courses, enrolments, experimentAssignments, experiments, pageCompletions, users, type Experiment } from './schema.js';
import { workLock, type Owner } from './work.js';

/**
 * Research experiments (lib/experiments.ts chooses variants): defining them, assigning a student at their first
 * exposure (once, idempotent), what a page's state tells the client, moving assignments at a login, and the report.
 */

export type ExperimentStatus = 'scheduled' | 'running' | 'ended' | 'stopped';

/** An experiment as the code sees it: its variants parsed, its course list, its status now. */
export interface ExperimentRow {
  id: string;
  bookId: string;
  variants: Variant[];
  salt: string;
  courses: string[] | null;
  startsAt: number | null;
  endsAt: number | null;
  consentOnly: boolean;
  stoppedAt: number | null;
  createdAt: number;
}

export interface NewExperiment {
  id: string;
  bookId: string;
  variants: Variant[];
  courses?: string[] | undefined;
  startsAt?: number | undefined;
  endsAt?: number | undefined;
  consentOnly?: boolean | undefined;
  /** Tests only: a fixed salt (otherwise 128 random bits). */
  salt?: string | undefined;
}

/** The id is taken (by an experiment of any book). */
export class ExperimentExistsError extends Error {
  override name = 'ExperimentExistsError';
}

/** A course the definition names does not exist or uses another book. */
export class ExperimentCourseError extends Error {
  override name = 'ExperimentCourseError';
}

const p = sql.placeholder;

const toExperiment = (row: Experiment): ExperimentRow => ({
  ...row,
  variants: JSON.parse(row.variants) as Variant[],
  courses: row.courses === null ? null : (JSON.parse(row.courses) as string[]),
  consentOnly: row.consentOnly === 1,
});

/** Whether new students are assigned at `now`: started, not ended, not stopped. */
export function experimentStatus(e: Pick<ExperimentRow, 'startsAt' | 'endsAt' | 'stoppedAt'>, now = Date.now()): ExperimentStatus {
  if (e.stoppedAt !== null) return 'stopped';
  if (e.startsAt !== null && now < e.startsAt) return 'scheduled';
  if (e.endsAt !== null && now >= e.endsAt) return 'ended';
  return 'running';
}

const experimentById = select(getTableColumns(experiments)).from(experiments).where(eq(experiments.id, p('id')));

export async function findExperiment(db: Queries, id: string): Promise<ExperimentRow | undefined> {
  const row = await first(db, experimentById, { id });
  return row && toExperiment(row);
}

/**
 * Defines an experiment (the book must exist: the caller checks). Throws ExperimentExistsError for a taken id,
 * ExperimentCourseError for a course that is not the book's, ExperimentDefinitionError for bad variants.
 */
export async function createExperiment(db: Database, e: NewExperiment): Promise<ExperimentRow> {
  checkVariants(e.variants);
  const courseIds = e.courses === undefined || e.courses.length === 0 ? null : [...new Set(e.courses)];
  return db.write(async (tx) => {
    if (courseIds) {
      const found = await rows(tx, select({ id: courses.id, bookId: courses.bookId }).from(courses).where(inArray(courses.id, courseIds)));
      for (const id of courseIds) {
        const course = found.find((c) => c.id === id);
        if (!course) throw new ExperimentCourseError(`there is no course "${id}" (see "folio courses list")`);
        if (course.bookId !== e.bookId) throw new ExperimentCourseError(`course "${id}" uses book ${course.bookId}, not ${e.bookId}`);
      }
    }
    const row = {
      id: e.id,
      bookId: e.bookId,
      variants: JSON.stringify(e.variants.map(({ name, weight }) => ({ name, weight }))),
      salt: e.salt ?? newSalt(),
      courses: courseIds && JSON.stringify(courseIds),
      startsAt: e.startsAt ?? null,
      endsAt: e.endsAt ?? null,
      consentOnly: e.consentOnly ? (1 as const) : (0 as const),
      stoppedAt: null,
      createdAt: Date.now(),
    };
    const created = await tx.run(qb.insert(experiments).values(row).onConflictDoNothing({ target: conflictOn(experiments.id) }));
    if (created === 0) throw new ExperimentExistsError(`an experiment "${e.id}" exists already (experiment ids are unique on the server)`);
    return toExperiment(row);
  });
}

/** Stops an experiment (nobody new is assigned; assignments stay): the experiment, or undefined when there is none. A second stop changes nothing. */
export async function stopExperiment(db: Database, id: string, now = Date.now()): Promise<ExperimentRow | undefined> {
  await db.run(qb.update(experiments).set({ stoppedAt: now }).where(and(eq(experiments.id, id), sql`${experiments.stoppedAt} IS NULL`)));
  return findExperiment(db, id);
}

export interface VariantCount {
  name: string;
  weight: number;
  /** Students exposed to it (assignments). */
  exposed: number;
  /** Of them, those with research consent: the ones exports and reports include. */
  consenting: number;
}

export interface ExperimentSummary extends Omit<ExperimentRow, 'salt'> {
  status: ExperimentStatus;
  counts: VariantCount[];
}

const countsQuery = sql`SELECT x.experiment_id AS experiment, x.variant AS variant, COUNT(*) AS exposed, SUM(u.research_consent) AS consenting
  FROM experiment_assignments x JOIN users u ON u.id = x.user_id JOIN experiments e ON e.id = x.experiment_id
  WHERE e.book_id = ${p('book')} OR ${p('book')} = '' GROUP BY x.experiment_id, x.variant`;

/** The experiments of a book (every book: undefined), by id, with students exposed per variant. The salt is left out. */
export async function listExperiments(db: Queries, book?: string, now = Date.now()): Promise<ExperimentSummary[]> {
  const query = select(getTableColumns(experiments)).from(experiments).where(book === undefined ? undefined : eq(experiments.bookId, book)).orderBy(asc(experiments.id));
  const found = (await rows(db, query)).map(toExperiment);
  const counts = await db.all<{ experiment: string; variant: string; exposed: number | string; consenting: number | string | null }>(countsQuery, { book: book ?? '' });
  return found.map(({ salt: _salt, ...e }) => ({
    ...e,
    status: experimentStatus(e, now),
    counts: e.variants.map((v) => {
      const c = counts.find((r) => r.experiment === e.id && r.variant === v.name);
      return { name: v.name, weight: v.weight, exposed: Number(c?.exposed ?? 0), consenting: Number(c?.consenting ?? 0) };
    }),
  }));
}

// ---- exposure -----------------------------------------------------------------------------------------------------

/** Who asks for a variant: the owner of the work, and whether they gave research consent. */
export interface Participant extends Owner {
  consent: boolean;
}

export interface Exposure {
  variant: string;
  /**
   * `recorded`: the student's assignment (made now or before); `none`: the student takes no part (consent-only without
   * consent, not in its courses, or not running and never assigned): the first variant, nothing recorded.
   */
  exposure: 'recorded' | 'none';
}

const assignmentQuery = sql`SELECT variant FROM experiment_assignments WHERE experiment_id = ${p('experiment')} AND user_id = ${p('user')}`;
const insertAssignment = sql`INSERT INTO experiment_assignments (experiment_id, user_id, book_id, variant, page, exposed_at)
  VALUES (${p('experiment')}, ${p('user')}, ${p('book')}, ${p('variant')}, ${p('page')}, ${p('now')}) ON CONFLICT (experiment_id, user_id) DO NOTHING`;

const enrolledInAny = (courseIds: string[], userId: string) =>
  select({ one: sql<number>`1` })
    .from(enrolments)
    .where(and(eq(enrolments.userId, userId), inArray(enrolments.courseId, courseIds)))
    .limit(1);

/** Whether a student who has no assignment yet would be assigned now. */
async function takesPart(db: Queries, e: ExperimentRow, who: Participant, now: number): Promise<boolean> {
  if (experimentStatus(e, now) !== 'running') return false;
  if (e.courses !== null && !(await first(db, enrolledInAny(e.courses, who.userId)))) return false;
  return true;
}

/**
 * The variant of experiment `e` (of the participant's book) for the participant, assigning it and recording the
 * exposure (time and page) the first time: `GET /api/books/:book/experiments/:experiment`. Consent-only experiments
 * give students without consent the first variant, unrecorded, even if they were assigned before withdrawing it.
 */
export async function exposeTo(db: Database, e: ExperimentRow, who: Participant, page: string | null, now = Date.now()): Promise<Exposure> {
  const none: Exposure = { variant: e.variants[0]!.name, exposure: 'none' };
  if (e.consentOnly && !who.consent) return none;
  const known = await db.get<{ variant: string }>(assignmentQuery, { experiment: e.id, user: who.userId });
  if (known) return { variant: known.variant, exposure: 'recorded' };
  if (!(await takesPart(db, e, who, now))) return none;
  const variant = chooseVariant(e.salt, e.id, who.userId, e.variants);
  // Idempotent: a second device asking at the same moment inserts nothing and reads the same row.
  const stored = await db.write(async (tx) => {
    await tx.run(insertAssignment, { experiment: e.id, user: who.userId, book: e.bookId, variant, page, now });
    return tx.get<{ variant: string }>(assignmentQuery, { experiment: e.id, user: who.userId });
  }, [workLock(who.userId)]);
  return { variant: stored?.variant ?? variant, exposure: 'recorded' };
}

/** What a page's state tells the client of each experiment of the book: `pending` would be assigned (and recorded) by the first `variant()` call. */
export interface StateExperiment {
  variant: string;
  exposure: 'recorded' | 'pending' | 'none';
}

const bookExperimentsWithAssignment = select({ ...getTableColumns(experiments), assigned: sql<string | null>`${experimentAssignments.variant}` })
  .from(experiments)
  .leftJoin(experimentAssignments, and(eq(experimentAssignments.experimentId, experiments.id), eq(experimentAssignments.userId, p('user'))))
  .where(eq(experiments.bookId, p('book')))
  .orderBy(asc(experiments.id));

/**
 * Every experiment of the participant's book, as the page's state gives it to the client (no round trip for a
 * student already assigned or taking no part), or undefined when the book has none. Writes nothing.
 */
export async function experimentsForState(db: Database, who: Participant, now = Date.now()): Promise<Record<string, StateExperiment> | undefined> {
  const found = await rows(db, bookExperimentsWithAssignment, { user: who.userId, book: who.bookId });
  if (found.length === 0) return undefined;
  const state: Record<string, StateExperiment> = {};
  for (const { assigned, ...row } of found) {
    const e = toExperiment(row);
    const firstVariant = e.variants[0]!.name;
    if (e.consentOnly && !who.consent) state[e.id] = { variant: firstVariant, exposure: 'none' };
    else if (assigned !== null) state[e.id] = { variant: assigned, exposure: 'recorded' };
    else if (await takesPart(db, e, who, now)) state[e.id] = { variant: chooseVariant(e.salt, e.id, who.userId, e.variants), exposure: 'pending' };
    else state[e.id] = { variant: firstVariant, exposure: 'none' };
  }
  return state;
}

/**
 * At a login that merges an anonymous student into an account (db/users.ts mergeUsers): the anonymous student's
 * assignments move to the account. Where both have one for the same experiment the anonymous one wins (it is what
 * the student saw last, on this device, with the work that moves along); if the variants differ, the account's is
 * kept as `replaced_variant` (the student saw both: researchers may leave them out).
 */
export async function moveAssignments(tx: Queries, from: string, into: string): Promise<void> {
  await tx.run(sql`INSERT INTO experiment_assignments (experiment_id, user_id, book_id, variant, page, exposed_at, replaced_variant)
    SELECT experiment_id, ${into}, book_id, variant, page, exposed_at, replaced_variant FROM experiment_assignments WHERE user_id = ${from} AND true
    ON CONFLICT (experiment_id, user_id) DO UPDATE SET
      replaced_variant = CASE WHEN experiment_assignments.variant = excluded.variant THEN experiment_assignments.replaced_variant ELSE experiment_assignments.variant END,
      page = CASE WHEN experiment_assignments.variant = excluded.variant AND experiment_assignments.exposed_at <= excluded.exposed_at THEN experiment_assignments.page ELSE excluded.page END,
      exposed_at = CASE WHEN experiment_assignments.variant = excluded.variant AND experiment_assignments.exposed_at <= excluded.exposed_at THEN experiment_assignments.exposed_at ELSE excluded.exposed_at END,
      variant = excluded.variant`);
  await tx.run(sql`DELETE FROM experiment_assignments WHERE user_id = ${from}`);
}

// ---- the report -------------------------------------------------------------------------------------------------

export interface ReportGroup {
  variant: string;
  /** Consenting students exposed to it. */
  students: number;
  /** Each student's mean score on the pages' questions (latest attempt: its score, else 1/0 if marked): students with one. */
  scores: number[];
  /** Students who completed every one of the pages. */
  completed: number;
}

export interface ReportData {
  experiment: ExperimentRow;
  pages: string[];
  groups: ReportGroup[];
  /** Exposed students left out for want of research consent. */
  excluded: number;
}

/**
 * What `folio experiments report` computes its tests from: per variant, the consenting students exposed, their mean
 * scores and completions on the experiment's pages (given, else every page an exposure was recorded on).
 */
export async function experimentReportData(db: Database, e: ExperimentRow, pagesGiven?: string[]): Promise<ReportData> {
  const assigned = await rows(
    db,
    select({ userId: experimentAssignments.userId, variant: experimentAssignments.variant, page: experimentAssignments.page, consent: users.researchConsent })
      .from(experimentAssignments)
      .innerJoin(users, eq(users.id, experimentAssignments.userId))
      .where(eq(experimentAssignments.experimentId, e.id)),
  );
  const students = assigned.filter((a) => a.consent === 1);
  const pages = pagesGiven && pagesGiven.length > 0 ? [...new Set(pagesGiven)].sort() : [...new Set(assigned.map((a) => a.page).filter((x): x is string => x !== null))].sort();
  const scoreOf = new Map<string, Map<string, { attempt: number; value: number | null }>>();
  const completedOf = new Map<string, number>();
  if (pages.length > 0 && students.length > 0) {
    const ids = students.map((s) => s.userId);
    // In slices: a statement's parameters are limited (SQLite 32766, PostgreSQL 65535).
    for (let i = 0; i < ids.length; i += 5000) {
      const slice = ids.slice(i, i + 5000);
      const tried = await rows(
        db,
        select({ userId: answers.userId, question: answers.question, attempt: answers.attempt, score: answers.score, correct: answers.correct })
          .from(answers)
          .where(and(eq(answers.bookId, e.bookId), inArray(answers.page, pages), inArray(answers.userId, slice))),
      );
      for (const a of tried) {
        const mine = scoreOf.get(a.userId) ?? new Map<string, { attempt: number; value: number | null }>();
        scoreOf.set(a.userId, mine);
        const value = a.score ?? (a.correct === null ? null : Number(a.correct));
        if ((mine.get(a.question)?.attempt ?? 0) < a.attempt) mine.set(a.question, { attempt: a.attempt, value });
      }
      const done = await rows(
        db,
        select({ userId: pageCompletions.userId, page: pageCompletions.page })
          .from(pageCompletions)
          .where(and(eq(pageCompletions.bookId, e.bookId), inArray(pageCompletions.page, pages), inArray(pageCompletions.userId, slice))),
      );
      for (const c of done) completedOf.set(c.userId, (completedOf.get(c.userId) ?? 0) + 1);
    }
  }
  const groups = e.variants.map(({ name }): ReportGroup => {
    const mine = students.filter((s) => s.variant === name);
    const scores: number[] = [];
    for (const s of mine) {
      const values = [...(scoreOf.get(s.userId)?.values() ?? [])].map((v) => v.value).filter((v): v is number => v !== null);
      if (values.length > 0) scores.push(values.reduce((a, b) => a + b, 0) / values.length);
    }
    return { variant: name, students: mine.length, scores, completed: pages.length === 0 ? 0 : mine.filter((s) => completedOf.get(s.userId) === pages.length).length };
  });
  return { experiment: e, pages, groups, excluded: assigned.length - students.length };
}

export interface TestOutcome {
  test: 'welch-t' | 'two-proportion-z';
  statistic: number;
  df: number | null;
  p: number;
}

/** The report as `GET …/experiments/:experiment/report` gives it and `folio experiments report` prints it. */
export interface ExperimentReport {
  experiment: string;
  book: string;
  pages: string[];
  excluded: number;
  variants: { variant: string; students: number; scored: number; meanScore: number | null; completed: number; completion: number | null }[];
  comparisons: { variant: string; against: string; score: (TestOutcome & { test: 'welch-t' }) | null; completion: (TestOutcome & { test: 'two-proportion-z' }) | null }[];
}

const mean = (xs: number[]) => (xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length);

/** Per variant the figures, and each variant against the first: Welch's t-test of mean scores, the two-proportion z-test of completion. */
export async function experimentReport(db: Database, e: ExperimentRow, pages?: string[]): Promise<ExperimentReport> {
  const data = await experimentReportData(db, e, pages);
  const [control, ...others] = data.groups;
  return {
    experiment: e.id,
    book: e.bookId,
    pages: data.pages,
    excluded: data.excluded,
    variants: data.groups.map((g) => ({
      variant: g.variant,
      students: g.students,
      scored: g.scores.length,
      meanScore: mean(g.scores),
      completed: g.completed,
      completion: g.students === 0 ? null : g.completed / g.students,
    })),
    comparisons: others.map((g) => {
      const score = welchTTest(g.scores, control!.scores);
      const completion = data.pages.length === 0 ? null : twoProportionZTest(g.completed, g.students, control!.completed, control!.students);
      return {
        variant: g.variant,
        against: control!.variant,
        score: score && { test: 'welch-t' as const, ...score },
        completion: completion && { test: 'two-proportion-z' as const, ...completion },
      };
    }),
  };
}
