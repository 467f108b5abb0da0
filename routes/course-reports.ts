import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { courseAttempts, courseProgramVersion, courseProgramVersions, courseProgress, courseQuestionSummary, courseStudentProgress, courseStudentWork, windowReply } from '../db/course-reports.js';
import { courseActivity, courseConsent } from '../db/course-activity.js';
import { courseGrid } from '../db/grid.js';
import { linkedToLms, pendingScores } from '../db/lti-scores.js';
import { iso } from '../db/work.js';
import { isEnrolled } from '../db/courses.js';
import { afterCursor, afterNumber, cursorOf, numberCursorOf } from '../lib/cursor.js';
import { HttpError } from '../lib/errors.js';
import { courseOf } from '../plugins/access.js';
import { errorReplies } from '../schemas/common.js';
import { ExportQuery, ExportReply } from '../schemas/instructor.js';
import { CourseParams } from '../schemas/course.js';
import {
  AttemptsQuery,
  CourseActivityQuery,
  CourseActivityReply,
  CourseAnswerParams,
  CourseAttemptsReply,
  CourseConsentReply,
  CourseGridReply,
  CourseLtiScoresReply,
  CourseProgramParams,
  CourseProgramVersionReply,
  CourseProgramVersionsReply,
  CourseProgressReply,
  CourseQuestionParams,
  CourseQuestionSummaryReply,
  CourseStudentParams,
  CourseStudentProgressReply,
  CourseStudentWorkReply,
  CourseVersionParams,
  GridQuery,
  PageQuery,
  VersionsQuery,
} from '../schemas/reports.js';
import { sendExport } from './export.js';

/** The 404 for a user who is not a student of the course. */
const notEnrolled = (courseId: string, userId: string) =>
  new HttpError(404, 'not_enrolled', `user "${userId}" is not a student of course "${courseId}" (its students are in GET /api/courses/${courseId}/progress)`);

/**
 * Logs that a member of the course's staff read an enrolled student's work (`what`: which of it), as an audit trail:
 * who, in which role, whose work, in which course.
 */
function logWorkRead(request: FastifyRequest, student: string, what: Record<string, string | number>): void {
  const { course, role, user: reader } = courseOf(request);
  request.log.info(
    { event: 'student_work_read', by: reader.username, userId: reader.id, role: reader.role, courseRole: role, course: course.id, book: course.bookId, student, ...what },
    'student work read',
  );
}

/**
 * A course's reports, for its staff (instructors and teaching assistants) and admins: its enrolled students only, within
 * the course's dates when it has them (db/course-reports.ts).
 */
const courseReportRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/courses/:course/progress',
    {
      config: { access: 'course-staff' },
      schema: {
        tags: ['course reports'],
        summary: 'The progress grid: each enrolled student against the book\'s table of contents (pages completed, questions attempted and correct, points), a page of students at a time by user id',
        params: CourseParams,
        querystring: PageQuery,
        response: { 200: CourseProgressReply, ...errorReplies(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { course } = courseOf(request);
      const page = await courseProgress(app.db, course, app.books.toc(course.bookId), { limit: request.query.limit, after: afterCursor(request.query.after) });
      return { course: course.id, book: course.bookId, window: windowReply(course), toc: page.toc, students: page.students, next: page.next === null ? null : cursorOf(page.next) };
    },
  );

  app.get(
    '/api/courses/:course/grid',
    {
      config: { access: 'course-staff' },
      schema: {
        tags: ['course reports'],
        summary: 'The dashboard\'s progress grid: each enrolled student\'s points, pages completed and pages with work by chapter (or by page of one chapter), with their totals and last activity, a page of students at a time by user id',
        description:
          'Graded as GET /api/courses/:course/progress grades. Without `chapter`, a cell a chapter of the table of contents; with it, a cell a page of that chapter (404 unknown_chapter when the table of contents has no such chapter). ' +
          'A course without dates reads each student\'s grades as kept on every write, recomputing those changed since the last read.',
        params: CourseParams,
        querystring: GridQuery,
        response: { 200: CourseGridReply, ...errorReplies(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { course } = courseOf(request);
      const { limit, after, chapter } = request.query;
      const grid = await courseGrid(app.db, course, app.books.toc(course.bookId), { limit, after: afterCursor(after), chapter });
      if (!grid) throw new HttpError(404, 'unknown_chapter', `the table of contents of book "${course.bookId}" has no chapter "${chapter}" (its chapters are in the reply without chapter=)`);
      return { course: course.id, book: course.bookId, window: windowReply(course), ...grid, next: grid.next === null ? null : cursorOf(grid.next) };
    },
  );

  app.get(
    '/api/courses/:course/questions/:question/summary',
    {
      config: { access: 'course-staff' },
      schema: {
        tags: ['course reports'],
        summary: 'How the enrolled students did on a question: attempts, students, correct on the first try, eventually correct, the distribution of choices',
        params: CourseQuestionParams,
        response: { 200: CourseQuestionSummaryReply, ...errorReplies(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { course } = courseOf(request);
      return courseQuestionSummary(app.db, course, app.books.toc(course.bookId), request.params.question);
    },
  );

  app.get(
    '/api/courses/:course/students/:user/work',
    {
      config: { access: 'course-staff' },
      schema: {
        tags: ['course reports'],
        summary: 'One enrolled student\'s work: latest program per activity, latest answer per question, completed pages, position; ids the table of contents does not list are marked',
        description: '404 not_enrolled: the user is not a student of this course.',
        params: CourseStudentParams,
        response: { 200: CourseStudentWorkReply, ...errorReplies(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { course } = courseOf(request);
      if (!(await isEnrolled(app.db, course.id, request.params.user))) throw notEnrolled(course.id, request.params.user);
      const work = await courseStudentWork(app.db, course, app.books.toc(course.bookId), request.params.user);
      if (!work) throw notEnrolled(course.id, request.params.user);
      logWorkRead(request, work.user.id, { what: 'work' });
      return work;
    },
  );

  app.get(
    '/api/courses/:course/students/:user/progress',
    {
      config: { access: 'course-staff' },
      schema: {
        tags: ['course reports'],
        summary: 'One enrolled student\'s row of the progress grid (pages completed, questions attempted and correct, points, last activity) with the table of contents it is graded against',
        description: '404 not_enrolled: the user is not a student of this course. Progress by chapter: group toc.pages by their chapter.',
        params: CourseStudentParams,
        response: { 200: CourseStudentProgressReply, ...errorReplies(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { course } = courseOf(request);
      const progress = await courseStudentProgress(app.db, course, app.books.toc(course.bookId), request.params.user);
      if (!progress) throw notEnrolled(course.id, request.params.user);
      return { course: course.id, book: course.bookId, window: windowReply(course), ...progress };
    },
  );

  app.get(
    '/api/courses/:course/students/:user/programs/:activity/versions',
    {
      config: { access: 'course-staff' },
      schema: {
        tags: ['course reports'],
        summary: 'An enrolled student\'s versions of a program, newest first, without their code (its size instead), a page at a time',
        description: '404 not_enrolled: the user is not a student of this course. Only versions saved within the course\'s dates are listed.',
        params: CourseProgramParams,
        querystring: VersionsQuery,
        response: { 200: CourseProgramVersionsReply, ...errorReplies(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { course } = courseOf(request);
      const { user, activity } = request.params;
      const before = afterNumber(request.query.after);
      if (!(await isEnrolled(app.db, course.id, user))) throw notEnrolled(course.id, user);
      const page = await courseProgramVersions(app.db, course, user, activity, { limit: request.query.limit, before });
      logWorkRead(request, user, { what: 'versions', activity });
      return { course: course.id, activity, versions: page.versions, next: page.next === null ? null : numberCursorOf(page.next) };
    },
  );

  app.get(
    '/api/courses/:course/students/:user/programs/:activity/versions/:version',
    {
      config: { access: 'course-staff' },
      schema: {
        tags: ['course reports'],
        summary: 'One version of an enrolled student\'s program, with its code',
        description: '404 not_enrolled: the user is not a student of this course; 404 no_version: no such version saved within the course\'s dates.',
        params: CourseVersionParams,
        response: { 200: CourseProgramVersionReply, ...errorReplies(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { course } = courseOf(request);
      const { user, activity, version } = request.params;
      if (!(await isEnrolled(app.db, course.id, user))) throw notEnrolled(course.id, user);
      const program = await courseProgramVersion(app.db, course, user, activity, version);
      if (!program) {
        throw new HttpError(404, 'no_version', `the student saved no version ${version} of activity "${activity}" within the course's dates (their versions are in GET /api/courses/${course.id}/students/${user}/programs/${activity}/versions)`);
      }
      logWorkRead(request, user, { what: 'version', activity, version });
      return { course: course.id, ...program };
    },
  );

  app.get(
    '/api/courses/:course/students/:user/answers/:question/attempts',
    {
      config: { access: 'course-staff' },
      schema: {
        tags: ['course reports'],
        summary: 'An enrolled student\'s attempts at a question in order, first attempt first, a page at a time (at most `limit`, and at most FOLIO_HISTORY_PAGE_MAX_BYTES of answers)',
        description: '404 not_enrolled: the user is not a student of this course. Only attempts saved within the course\'s dates are listed.',
        params: CourseAnswerParams,
        querystring: AttemptsQuery,
        response: { 200: CourseAttemptsReply, ...errorReplies(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { course } = courseOf(request);
      const { user, question } = request.params;
      const after = afterNumber(request.query.after) ?? 0;
      if (!(await isEnrolled(app.db, course.id, user))) throw notEnrolled(course.id, user);
      const page = await courseAttempts(app.db, course, user, question, { limit: request.query.limit, after, maxBytes: app.config.historyPageMaxBytes });
      logWorkRead(request, user, { what: 'attempts', question });
      return { course: course.id, question, attempts: page.attempts, next: page.next === null ? null : numberCursorOf(page.next) };
    },
  );

  app.get(
    '/api/courses/:course/export',
    {
      config: { access: 'course-staff' },
      schema: {
        tags: ['course reports'],
        summary: 'Stream research data of the enrolled students who consented, pseudonymised, within the course\'s dates: as GET /api/books/:book/export (identify=true admins only)',
        params: CourseParams,
        querystring: ExportQuery,
        response: { 200: ExportReply, ...errorReplies(400, 401, 403, 404, 503) },
      },
    },
    async (request, reply) => {
      const { course } = courseOf(request);
      return sendExport(app, request, reply, request.query, { book: course.bookId, course });
    },
  );

  app.get(
    '/api/courses/:course/lti-scores',
    {
      config: { access: 'course-staff' },
      schema: {
        tags: ['course reports'],
        summary: 'The LMS gradebook scores (LTI Assignment and Grade Services) not delivered yet: student, page, score, attempts, next attempt, last error',
        description: 'Folio sends a score when it changes and retries one it could not send (30 s, doubling, at most hourly); a score stays listed here until the platform took it.',
        params: CourseParams,
        response: { 200: CourseLtiScoresReply, ...errorReplies(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { course } = courseOf(request);
      const pending = (await pendingScores(app.db, course.id)).map((r) => ({
        user: { id: r.userId, username: r.username, name: r.name },
        page: r.page,
        lineitem: r.lineitem,
        scoreGiven: r.scoreGiven,
        scoreMaximum: r.scoreMaximum,
        activityProgress: r.activityProgress,
        gradingProgress: r.gradingProgress,
        changedAt: iso(r.changedAt),
        attempts: r.attempts,
        nextAttemptAt: r.nextAttemptAt === null ? null : iso(r.nextAttemptAt),
        lastError: r.lastError,
        lastSentAt: r.sentAt === null ? null : iso(r.sentAt),
      }));
      return { course: course.id, linked: await linkedToLms(app.db, course.id), pending };
    },
  );

  app.get(
    '/api/courses/:course/activity',
    {
      config: { access: 'course-staff' },
      schema: {
        tags: ['course reports'],
        summary: 'The enrolled students\' activity per UTC day (answers, program saves, page views, active students), every day of the range, and how many were active in the last 7 days',
        description: 'Within the course\'s dates: the range ends today, or on the course\'s last day when it has ended; work outside the dates counts nowhere.',
        params: CourseParams,
        querystring: CourseActivityQuery,
        response: { 200: CourseActivityReply, ...errorReplies(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { course } = courseOf(request);
      return courseActivity(app.db, course, request.query.days, Date.now());
    },
  );

  app.get(
    '/api/courses/:course/consent',
    {
      config: { access: 'course-staff' },
      schema: {
        tags: ['course reports'],
        summary: 'How many enrolled students consented to research (only they appear, pseudonymised, in the course\'s exports) and how many did not',
        params: CourseParams,
        response: { 200: CourseConsentReply, ...errorReplies(400, 401, 403, 404) },
      },
    },
    async (request) => courseConsent(app.db, courseOf(request).course.id),
  );
};

export default courseReportRoutes;
