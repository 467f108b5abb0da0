import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { courseProgress, courseQuestionSummary, courseStudentWork, windowReply } from '../db/course-reports.js';
import { courseActivity, courseConsent } from '../db/course-activity.js';
import { linkedToLms, pendingScores } from '../db/lti-scores.js';
import { iso } from '../db/work.js';
import { isEnrolled } from '../db/courses.js';
import { afterCursor, cursorOf } from '../lib/cursor.js';
import { HttpError } from '../lib/errors.js';
import { courseOf } from '../plugins/access.js';
import { errorReplies } from '../schemas/common.js';
import { ExportQuery, ExportReply } from '../schemas/instructor.js';
import { CourseParams } from '../schemas/course.js';
import { CourseActivityQuery, CourseActivityReply, CourseConsentReply, CourseLtiScoresReply, CourseProgressReply, CourseQuestionParams, CourseQuestionSummaryReply, CourseStudentParams, CourseStudentWorkReply, PageQuery } from '../schemas/reports.js';
import { sendExport } from './export.js';

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
      const { course, role, user: reader } = courseOf(request);
      const notEnrolled = () => new HttpError(404, 'not_enrolled', `user "${request.params.user}" is not a student of course "${course.id}" (its students are in GET /api/courses/${course.id}/progress)`);
      if (!(await isEnrolled(app.db, course.id, request.params.user))) throw notEnrolled();
      const work = await courseStudentWork(app.db, course, app.books.toc(course.bookId), request.params.user);
      if (!work) throw notEnrolled();
      request.log.info(
        { event: 'student_work_read', by: reader.username, userId: reader.id, role: reader.role, courseRole: role, course: course.id, book: course.bookId, student: work.user.id },
        'student work read',
      );
      return work;
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
