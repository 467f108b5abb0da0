import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { bookProgress, questionSummary, studentWork } from '../db/reports.js';
import type { UserRow } from '../db/users.js';
import { HttpError } from '../lib/errors.js';
import { requireRole } from '../plugins/auth.js';
import { BookParams, errorReplies } from '../schemas/common.js';
import { ProgressReply, QuestionSummaryReply, StudentParams, StudentWorkReply, SummaryParams } from '../schemas/instructor.js';

/** An instructor or admin (else 401, 403) asking about a book that exists (else 404). Roles are server-wide: one Folio serves one course. */
export function staff(request: FastifyRequest, book: string): UserRow {
  const user = requireRole(request, 'instructor', 'admin');
  request.server.books.known(book);
  return user;
}

/**
 * Who may export a book's research data (else 401, 403): instructors and admins, and researchers, who may do that
 * and nothing else of other people's (no progress, no student's work, no names). Identities need an admin (the route checks).
 */
export function researchExporter(request: FastifyRequest, book: string): UserRow {
  const user = requireRole(request, 'instructor', 'admin', 'researcher');
  request.server.books.known(book);
  return user;
}

const instructorRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/books/:book/progress',
    {
      schema: {
        tags: ['instructors'],
        summary: 'Each student\'s progress in the book: pages completed, questions attempted and correct, last activity (instructors and admins)',
        params: BookParams,
        response: { 200: ProgressReply, ...errorReplies(400, 401, 403, 404) },
      },
    },
    async (request) => {
      staff(request, request.params.book);
      return { book: request.params.book, students: await bookProgress(app.db, request.params.book) };
    },
  );

  app.get(
    '/api/books/:book/students/:user/work',
    {
      schema: {
        tags: ['instructors'],
        summary: 'One student\'s work in the book: latest program per activity, latest answer per question, completed pages, position (instructors and admins)',
        params: StudentParams,
        response: { 200: StudentWorkReply, ...errorReplies(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const reader = staff(request, request.params.book);
      const work = await studentWork(app.db, request.params.book, request.params.user);
      if (!work) throw new HttpError(404, 'unknown_user', `there is no user "${request.params.user}" (the ids are in GET /api/books/${request.params.book}/progress)`);
      request.log.info({ event: 'student_work_read', by: reader.username, userId: reader.id, role: reader.role, book: request.params.book, student: work.user.id }, 'student work read');
      return work;
    },
  );

  app.get(
    '/api/books/:book/questions/:question/summary',
    {
      schema: {
        tags: ['instructors'],
        summary: 'How students did on a question: attempts, correct rate, and the distribution of choices (instructors and admins)',
        params: SummaryParams,
        response: { 200: QuestionSummaryReply, ...errorReplies(400, 401, 403, 404) },
      },
    },
    async (request) => {
      staff(request, request.params.book);
      return questionSummary(app.db, request.params.book, request.params.question);
    },
  );
};

export default instructorRoutes;
