import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { courseQuestions } from '../db/course-questions.js';
import { HttpError } from '../lib/errors.js';
import { courseOf } from '../plugins/access.js';
import { errorReplies } from '../schemas/common.js';
import { CourseParams } from '../schemas/course.js';
import { CourseQuestionsQuery, CourseQuestionsReply } from '../schemas/course-questions.js';

/** How a course's enrolled students did on each question of the book, for its staff and admins (db/course-questions.ts). */
const courseQuestionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/courses/:course/questions',
    {
      config: { access: 'course-staff' },
      schema: {
        tags: ['course reports'],
        summary:
          'Every question of the book by chapter and page, in the table of contents\' order, with the enrolled students\' attempts, students, correct on the first try, eventually correct and median attempts; then the questions it does not list',
        description:
          'Within the course\'s dates. A question nobody attempted has zeros (its median null). A question\'s choices and common answers are in GET /api/courses/:course/questions/:question/summary. ' +
          'For a large course, ask a chapter at a time (`chapter`), then `unlisted=true`: each reads only its questions\' attempts.',
        params: CourseParams,
        querystring: CourseQuestionsQuery,
        response: { 200: CourseQuestionsReply, ...errorReplies(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { course } = courseOf(request);
      const { chapter, unlisted } = request.query;
      if (chapter !== undefined && unlisted) throw new HttpError(400, 'invalid_request', 'ask for a chapter or for the unlisted questions, not both: leave out `chapter` or `unlisted`');
      const part = chapter !== undefined ? { chapter } : unlisted ? { unlisted: true as const } : undefined;
      const reply = await courseQuestions(app.db, course, app.books.toc(course.bookId), part);
      if (!reply) {
        throw new HttpError(400, 'unknown_chapter', `the table of contents of book "${course.bookId}" has no chapter "${chapter}": use a chapter id of GET /api/books/${course.bookId}/toc, or leave out \`chapter\``);
      }
      return reply;
    },
  );
};

export default courseQuestionRoutes;
