import Type from 'typebox';
import { BookId, Nullable, When } from './common.js';
import { CourseId } from './course.js';
import { Student, StudentWorkReply } from './instructor.js';
import { Answer, Id, LatestAnswer, maxInt32, Program } from './work.js';

/**
 * The course reports (routes/course-reports.ts): what a course's staff see of its enrolled students — the progress
 * grid against the book's table of contents, how a question went, one student's work, the research export. Each is
 * limited to the course's dates (`startsAt`/`endsAt`) when it has them.
 */

const Count = Type.Integer({ minimum: 0 });
const Points = Type.Number({ minimum: 0 });

export const CourseStudentParams = Type.Object({
  course: CourseId,
  user: Type.String({ pattern: '^[A-Za-z0-9-]{1,64}$', description: 'an enrolled student\'s user id (as the progress grid lists it)', examples: ['3f1c2a9e-5b7d-4c1e-9a2b-8d6e4f0a1b2c'] }),
});
export const CourseQuestionParams = Type.Object({ course: CourseId, question: Id('question id', 'q1') });

/** 50: the students of a page of a report by default; 200 at most. */
export const defaultPageSize = 50;
export const maxPageSize = 200;

/** `?limit=&after=`: a page of a list that grows with students, by user id. */
export const PageQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: maxPageSize, default: defaultPageSize, description: `students per page (default ${defaultPageSize}, at most ${maxPageSize})` }),
    after: Type.Optional(
      Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_-]+$', description: 'the `next` of the previous page (opaque); leave it out for the first page' }),
    ),
  },
  { additionalProperties: false },
);
const Next = Nullable(Type.String({ description: 'pass as `after` for the next page; null on the last page' }));

/** When a course's reports start and end: work saved outside is left out of them. */
export const CourseWindow = Type.Object(
  {
    startsAt: Nullable(When),
    endsAt: Nullable(Type.String({ format: 'date-time', description: 'exclusive: work saved at or after it is left out' })),
  },
  { additionalProperties: false, description: 'the course\'s dates: only work saved at or after startsAt and before endsAt counts (null: no bound)' },
);

const TocPageSummary = Type.Object(
  {
    id: Type.String({ description: 'page id' }),
    title: Type.String(),
    chapter: Type.String({ description: 'chapter id' }),
    questions: Type.Integer({ minimum: 0, description: 'questions the page lists' }),
    points: Type.Number({ minimum: 0, description: 'what the page is worth: its questions\' points, or 1 (its completion) when it lists no question' }),
  },
  { additionalProperties: false },
);

export const ReportToc = Type.Object(
  {
    importedAt: Nullable(When),
    pages: Type.Array(TocPageSummary, { description: 'in the book\'s order; empty when the book has no table of contents' }),
    questions: Type.Integer({ minimum: 0, description: 'questions the table of contents lists' }),
    points: Points,
  },
  { additionalProperties: false, description: 'the book\'s table of contents as the grid grades it' },
);

const PageProgress = Type.Object(
  {
    page: Type.String(),
    completed: Type.Boolean({ description: 'marked complete (within the course\'s dates)' }),
    attempted: Type.Integer({ minimum: 0, description: 'questions of the page answered at least once' }),
    correct: Type.Integer({ minimum: 0, description: 'questions of the page whose latest attempt is correct' }),
    questions: Type.Integer({ minimum: 0, description: 'questions the page lists' }),
    earned: Points,
    possible: Points,
  },
  { additionalProperties: false },
);

const UnlistedPage = Type.Object(
  {
    page: Type.String(),
    unlisted: Type.Literal(true),
    completed: Type.Boolean(),
    attempted: Type.Integer({ minimum: 0, description: 'unlisted questions answered on this page' }),
    correct: Type.Integer({ minimum: 0, description: 'of which the latest attempt is correct' }),
    earned: Type.Number({ minimum: 0, maximum: 1, description: 'graded by completion: 1 when completed' }),
    possible: Type.Literal(1),
  },
  { additionalProperties: false, description: 'a page the table of contents does not list, on which the student has work' },
);

const UnlistedQuestion = Type.Object(
  {
    question: Type.String(),
    unlisted: Type.Literal(true),
    page: Nullable(Type.String({ description: 'the page the answer was saved on' })),
    attempt: Type.Integer({ minimum: 1, description: 'the latest attempt\'s number (within the course\'s dates)' }),
    correct: Nullable(Type.Boolean()),
    score: Nullable(Type.Number()),
  },
  { additionalProperties: false, description: 'a question the table of contents does not list: shown, worth no points' },
);

const Totals = Type.Object(
  {
    pagesCompleted: Type.Integer({ minimum: 0, description: 'pages completed, the table of contents\' and unlisted ones' }),
    pages: Type.Integer({ minimum: 0, description: 'the table of contents\' pages, and the unlisted pages the student has work on' }),
    attempted: Type.Integer({ minimum: 0, description: 'listed questions answered' }),
    correct: Type.Integer({ minimum: 0, description: 'listed questions whose latest attempt is correct' }),
    questions: Type.Integer({ minimum: 0, description: 'questions the table of contents lists' }),
    earned: Points,
    possible: Points,
  },
  { additionalProperties: false },
);

export const CourseStudentProgress = Type.Object(
  {
    user: Student,
    pages: Type.Array(PageProgress, {
      description:
        'the table of contents\' pages the student has work on, in its order; a page left out was not touched: not completed, nothing attempted or correct, 0 earned, its questions and possible as in toc.pages',
    }),
    unlisted: Type.Optional(
      Type.Object(
        { pages: Type.Array(UnlistedPage), questions: Type.Array(UnlistedQuestion) },
        { additionalProperties: false, description: 'work on ids the table of contents does not list (left out when there is none)' },
      ),
    ),
    totals: Totals,
    lastActivity: Nullable(When),
  },
  { additionalProperties: false },
);

export const CourseProgressReply = Type.Object(
  {
    course: CourseId,
    book: BookId,
    window: CourseWindow,
    toc: ReportToc,
    students: Type.Array(CourseStudentProgress, { description: 'enrolled students, by user id' }),
    next: Next,
  },
  {
    additionalProperties: false,
    description:
      'Points: a question earns its points (from the table of contents) times the latest attempt\'s score when it has one, else its points when correct, else 0. ' +
      'A page listing no question, and a page the table of contents does not list, is graded by its completion (worth 1).',
  },
);

/** One of a question's most common answers (text kinds). */
export const CommonAnswer = Type.Object(
  {
    answer: Type.String({ description: 'as most students spelled it (spaces collapsed, at most 200 characters); a fill-in-the-blank\'s blanks separated by " | "' }),
    count: Type.Integer({ minimum: 1, description: 'students whose latest answer it is' }),
    correct: Type.Optional(Type.Boolean({ description: 'whether the attempts marked it correct (left out when none was marked, or they disagree)' })),
  },
  { additionalProperties: false },
);

export const CourseQuestionSummaryReply = Type.Object(
  {
    course: CourseId,
    question: Type.String(),
    unlisted: Type.Boolean({ description: 'the table of contents does not list the question' }),
    page: Nullable(Type.String({ description: 'the page that lists it' })),
    kind: Nullable(Type.String({ description: 'from the table of contents, else the kind of the most recent attempt' })),
    points: Nullable(Type.Number({ minimum: 0, description: 'from the table of contents' })),
    enrolled: Type.Integer({ minimum: 0, description: 'students enrolled in the course' }),
    students: Type.Integer({ minimum: 0, description: 'enrolled students who answered' }),
    attempts: Count,
    correctFirstTry: Type.Integer({ minimum: 0, description: 'students whose first attempt is correct' }),
    eventuallyCorrect: Type.Integer({ minimum: 0, description: 'students with at least one correct attempt' }),
    correctRate: Nullable(Type.Number({ minimum: 0, maximum: 1, description: 'correct attempts / attempts marked correct or not' })),
    distribution: Nullable(
      Type.Array(
        Type.Object(
          {
            choice: Type.String(),
            count: Count,
            correct: Type.Optional(
              Type.Boolean({ description: 'whether the choice is a correct one, as the latest answers marked correct tell (left out when none is marked correct)' }),
            ),
          },
          { additionalProperties: false },
        ),
        { description: 'choice kinds only: how often each choice is in the students\' latest answers, most chosen first' },
      ),
    ),
    commonAnswers: Nullable(
      Type.Array(CommonAnswer, {
        description: 'text kinds only (fitb, shortanswer, codelens): the students\' latest answers, counted once trimmed and case-folded, most given first, at most 10',
      }),
    ),
    distinctAnswers: Nullable(Type.Integer({ minimum: 0, description: 'text kinds only: how many different answers (as counted) there are in all' })),
  },
  { additionalProperties: false, description: 'over the course\'s enrolled students, within its dates' },
);

const Unlisted = { unlisted: Type.Optional(Type.Literal(true, { description: 'the table of contents does not list it' })) };
const { properties: work } = StudentWorkReply;

export const CourseStudentWorkReply = Type.Object(
  {
    course: CourseId,
    window: CourseWindow,
    user: work.user,
    programs: Type.Array(Type.Object({ ...Program.properties, ...Unlisted }, { additionalProperties: false }), { description: 'the latest version per activity' }),
    answers: Type.Array(Type.Object({ latest: LatestAnswer.properties.latest, attempts: LatestAnswer.properties.attempts, ...Unlisted }, { additionalProperties: false }), {
      description: 'the latest attempt per question',
    }),
    completed: Type.Array(Type.Object({ page: Type.String(), completedAt: When, ...Unlisted }, { additionalProperties: false })),
    position: work.position,
  },
  { additionalProperties: false, description: 'within the course\'s dates; ids the table of contents does not list are marked unlisted' },
);

/** 1,000: the students of a page of the dashboard's grid by default and at most (a student's row is some 300 bytes a chapter-wide). */
export const maxGridPageSize = 1000;

export const GridQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: maxGridPageSize, default: maxGridPageSize, description: `students per page (default and at most ${maxGridPageSize})` }),
    after: PageQuery.properties.after,
    chapter: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'a chapter id of the table of contents: a cell a page of that chapter instead of a cell a chapter' })),
  },
  { additionalProperties: false },
);

const GridCell = Type.Tuple([Points, Count, Count], {
  description: '[points earned, pages completed, pages with work] of the column\'s pages (a chapter\'s, or one page: then completed and with work are 0 or 1)',
});

export const CourseGridReply = Type.Object(
  {
    course: CourseId,
    book: BookId,
    window: CourseWindow,
    toc: ReportToc,
    chapters: Type.Array(Type.Object({ id: Type.String(), title: Type.String() }, { additionalProperties: false }), {
      description: "the table of contents' chapters in its order, with their titles (a dashboard needs no other request to label the columns)",
    }),
    chapter: Nullable(Type.String({ description: 'the chapter whose pages the columns are; null: the columns are the chapters' })),
    columns: Type.Array(Type.String(), { description: 'the cells\' columns in order: the table of contents\' chapter ids, or the chapter\'s page ids' }),
    students: Type.Array(
      Type.Object(
        {
          user: Student,
          totals: Totals,
          lastActivity: Nullable(When),
          cells: Type.Array(GridCell, { description: 'one a column, in the order of columns' }),
          unlisted: Type.Optional(
            Type.Array(Type.Object({ page: Type.String(), completed: Type.Boolean() }, { additionalProperties: false }), {
              description: 'pages the table of contents does not list that the student has work on, by id (each worth its completion); left out when none',
            }),
          ),
        },
        { additionalProperties: false },
      ),
      { description: 'enrolled students, by user id' },
    ),
    next: Next,
  },
  {
    additionalProperties: false,
    description: 'the progress grid by chapter (or by page of one chapter), graded as GET /api/courses/:course/progress grades; totals and lastActivity as there',
  },
);

/** GET /api/courses/:course/students/:user/progress: the student's row of the progress grid, with what it is graded against. */
export const CourseStudentProgressReply = Type.Object(
  {
    course: CourseId,
    book: BookId,
    window: CourseWindow,
    toc: ReportToc,
    student: CourseStudentProgress,
  },
  { additionalProperties: false, description: 'as the progress grid grades the student (GET /api/courses/:course/progress); group toc.pages by chapter for progress by chapter' },
);

export const CourseProgramParams = Type.Object({ ...CourseStudentParams.properties, activity: Id('activity id', 'ac1-2') });
export const CourseVersionParams = Type.Object({
  ...CourseProgramParams.properties,
  version: Type.Integer({ minimum: 1, maximum: maxInt32, description: 'the version number (as the versions list gives it)', examples: [3] }),
});
export const CourseAnswerParams = Type.Object({ ...CourseStudentParams.properties, question: Id('question id', 'q1') });

/** `?limit=&after=` for a list by number (versions, attempts). */
const NumberPageQuery = (what: string) =>
  Type.Object(
    {
      limit: Type.Integer({ minimum: 1, maximum: maxPageSize, default: defaultPageSize, description: `${what} per page (default ${defaultPageSize}, at most ${maxPageSize})` }),
      after: Type.Optional(
        Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_-]+$', description: 'the `next` of the previous page (opaque); leave it out for the first page' }),
      ),
    },
    { additionalProperties: false },
  );
export const VersionsQuery = NumberPageQuery('versions');
export const AttemptsQuery = NumberPageQuery('attempts');

export const CourseProgramVersionsReply = Type.Object(
  {
    course: CourseId,
    activity: Type.String(),
    versions: Type.Array(
      Type.Object(
        {
          version: Type.Integer({ minimum: 1 }),
          savedAt: When,
          language: Nullable(Type.String()),
          page: Nullable(Type.String()),
          size: Type.Integer({ minimum: 0, description: 'bytes of code (the code itself: GET …/versions/:version)' }),
        },
        { additionalProperties: false },
      ),
      { description: 'newest first; empty when the student saved none within the course\'s dates' },
    ),
    next: Next,
  },
  { additionalProperties: false, description: 'A page of a student\'s versions of a program, without their code, within the course\'s dates' },
);

export const CourseProgramVersionReply = Type.Object({ course: CourseId, ...Program.properties }, { additionalProperties: false, description: 'One version of a student\'s program, with its code' });

export const CourseAttemptsReply = Type.Object(
  {
    course: CourseId,
    question: Type.String(),
    attempts: Type.Array(Answer, { description: 'in order, first attempt first; empty when the student made none within the course\'s dates' }),
    next: Next,
  },
  { additionalProperties: false, description: 'A page of a student\'s attempts at a question, within the course\'s dates' },
);

/** GET /api/courses/:course/lti-scores: the LMS gradebook scores of a course's students not delivered yet. */
export const CourseLtiScoresReply = Type.Object(
  {
    course: CourseId,
    linked: Type.Boolean({ description: 'whether an LMS course (an LTI context) is linked to this course: without one, no score is ever sent' }),
    pending: Type.Array(
      Type.Object(
        {
          user: Type.Object({ id: Type.String(), username: Nullable(Type.String()), name: Nullable(Type.String()) }, { additionalProperties: false }),
          page: Type.String({ description: 'the page graded (the link\'s target)' }),
          lineitem: Type.String({ description: "the platform's line item URL" }),
          scoreGiven: Points,
          scoreMaximum: Points,
          activityProgress: Type.String({ examples: ['InProgress'] }),
          gradingProgress: Type.String({ examples: ['FullyGraded'] }),
          changedAt: When,
          attempts: Type.Integer({ minimum: 0, description: 'tries so far that failed' }),
          nextAttemptAt: Nullable(When),
          lastError: Nullable(Type.String({ description: "why the last try failed (the platform's status and reply)" })),
          lastSentAt: Nullable(When),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false, description: 'The scores waiting to reach the LMS gradebook (platform down, line item gone…), by student and page: Folio retries them with backoff' },
);

/** `?days=`: how many days GET /api/courses/:course/activity covers. */
export const CourseActivityQuery = Type.Object(
  {
    days: Type.Integer({ minimum: 1, maximum: 366, default: 30, description: 'how many UTC days, ending today (or on the course\'s last day when it has ended): 30 by default, at most 366' }),
  },
  { additionalProperties: false },
);

/** GET /api/courses/:course/activity: what the enrolled students did, day by day. */
export const CourseActivityReply = Type.Object(
  {
    course: CourseId,
    enrolled: Type.Integer({ minimum: 0, description: 'students enrolled now' }),
    activeThisWeek: Type.Integer({ minimum: 0, description: 'enrolled students with an answer, a program save, an event or a page completed in the last 7 days (7 × 24 h before now), within the course\'s dates' }),
    days: Type.Array(
      Type.Object(
        {
          day: Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'a day in UTC (00:00 to 24:00 UTC)', examples: ['2026-09-01'] }),
          answers: Type.Integer({ minimum: 0, description: 'answers saved (every attempt)' }),
          saves: Type.Integer({ minimum: 0, description: 'program versions saved' }),
          pageViews: Type.Integer({ minimum: 0, description: 'events of type page:view (what the book\'s page logs when it opens)' }),
          students: Type.Integer({ minimum: 0, description: 'students with any answer, save, event or page completed that day' }),
        },
        { additionalProperties: false },
      ),
      { description: 'every day of the range, oldest first, zeros included' },
    ),
  },
  { additionalProperties: false, description: 'The enrolled students\' activity per UTC day, within the course\'s dates, and how many were active this week' },
);

/** GET /api/courses/:course/consent: who of the enrolled students are in the course's research exports. */
export const CourseConsentReply = Type.Object(
  {
    course: CourseId,
    enrolled: Type.Integer({ minimum: 0, description: 'students enrolled' }),
    consented: Type.Integer({ minimum: 0, description: 'of them, those who consented to research: only they appear in the exports, pseudonymised' }),
    notConsented: Type.Integer({ minimum: 0, description: 'of them, those who did not: left out of the exports' }),
  },
  { additionalProperties: false, description: 'How many enrolled students consented to research (and so appear, pseudonymised, in the course\'s exports) and how many did not' },
);
