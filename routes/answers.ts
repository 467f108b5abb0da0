import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { latestAnswer, saveAnswer } from '../db/work.js';
import { HttpError } from '../lib/errors.js';
import { errorReplies } from '../schemas/common.js';
import { AnswerBody, Attempted, LatestAnswer, QuestionParams } from '../schemas/work.js';
import { ownerOf, writerOf } from '../plugins/access.js';

const answerRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/api/books/:book/answers/:question',
    {
      config: { access: 'writer' },
      schema: {
        tags: ['work'],
        summary: 'Record an attempt at a question; `answer` is checked against the schema of its `kind`',
        params: QuestionParams,
        body: AnswerBody,
        response: { 201: Attempted, ...errorReplies(400, 401, 403, 404, 413, 415) },
      },
    },
    async (request, reply) => {
      const owner = await writerOf(request, reply);
      const saved = await saveAnswer(app.db, owner, request.params.question, request.body, app.config);
      await app.ltiScores.workChanged(owner, { question: request.params.question, page: request.body.page });
      return reply.code(201).send(saved);
    },
  );

  app.get(
    '/api/books/:book/answers/:question',
    {
      config: { access: 'user' },
      schema: { tags: ['work'], summary: 'The latest attempt at a question and how many there were', params: QuestionParams, response: { 200: LatestAnswer, ...errorReplies(400, 401, 404) } },
    },
    async (request) => {
      const latest = await latestAnswer(app.db, ownerOf(request), request.params.question);
      if (!latest) throw new HttpError(404, 'no_answer', `no attempt at question "${request.params.question}" yet`);
      return { latest, attempts: latest.attempt };
    },
  );
};

export default answerRoutes;
