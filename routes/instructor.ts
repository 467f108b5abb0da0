import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { bookProgress, questionSummary, studentWork } from '../db/reports.js';
import { afterCursor, cursorOf } from '../lib/cursor.js';
import { HttpError } from '../lib/errors.js';
import { requireUser } from '../plugins/auth.js';
import { BookParams, errorReplies } from '../schemas/common.js';
import { ProgressReply, QuestionSummaryReply, StudentParams, StudentWorkReply, SummaryParams } from '../schemas/instructor.js';
import { PageQuery } from '../schemas/reports.js';

const instructorRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/books/:book/progress',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['instructors'],
        summary: 'Each student\'s progress in the book: pages completed, questions attempted and correct, last activity, a page of students at a time by user id (admins; course staff use /api/courses/:course/progress)',
        params: BookParams,
        querystring: PageQuery,
        response: { 200: ProgressReply, ...errorReplies(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { students, next } = await bookProgress(app.db, request.params.book, { limit: request.query.limit, after: afterCursor(request.query.after) });
      return { book: request.params.book, students, next: next === null ? null : cursorOf(next) };
    },
  );

  app.get(
    '/api/books/:book/students/:user/work',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['instructors'],
        summary: 'One student\'s work in the book: latest program per activity, latest answer per question, completed pages, position (admins; course staff use /api/courses/:course/…)',
        params: StudentParams,
        response: { 200: StudentWorkReply, ...errorReplies(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const reader = requireUser(request);
      const work = await studentWork(app.db, request.params.book, request.params.user);
      if (!work) throw new HttpError(404, 'unknown_user', `there is no user "${request.params.user}" (the ids are in GET /api/books/${request.params.book}/progress)`);
      request.log.info({ event: 'student_work_read', by: reader.username, userId: reader.id, role: reader.role, book: request.params.book, student: work.user.id }, 'student work read');
      return work;
    },
  );

  app.get(
    '/api/books/:book/questions/:question/summary',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['instructors'],
        summary: 'How students did on a question: attempts, correct rate, and the distribution of choices (admins; course staff use /api/courses/:course/…)',
        params: SummaryParams,
        response: { 200: QuestionSummaryReply, ...errorReplies(400, 401, 403, 404) },
      },
    },
    async (request) => {
      return questionSummary(app.db, request.params.book, request.params.question);
    },
  );
};

export default instructorRoutes;
