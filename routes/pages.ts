import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { experimentsForState } from '../db/experiments.js';
import { completedPages, pageStateJson, position, setPageComplete, setPosition } from '../db/work.js';
import { HttpError } from '../lib/errors.js';
import { BookParams, errorReplies } from '../schemas/common.js';
import { CompleteBody, Completion, PageState, Position, PositionBody, Progress, StateQuery } from '../schemas/work.js';
import { ownerOf, writerOf } from '../plugins/access.js';
import { requireUser } from '../plugins/auth.js';

const pageRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/books/:book/state',
    {
      config: { access: 'user' },
      schema: {
        tags: ['work'],
        summary: "Everything the student has on a page, in one reply: latest program per activity, latest answer per question, when the page was marked complete, and the student's variant of each of the book's experiments",
        params: BookParams,
        querystring: StateQuery,
        response: { 200: PageState, ...errorReplies(400, 401, 404) },
      },
    },
    // Already JSON (see pageStateJson): sent as it is, its shape is the PageState schema above.
    async (request, reply) => {
      const owner = ownerOf(request);
      const json = await pageStateJson(app.db, owner, request.query.page);
      const experiments = await experimentsForState(app.db, { ...owner, consent: requireUser(request).researchConsent });
      // Fastify sends the bytes as they are; the type provider only knows the object form. The book's experiments,
      // when it has any, are spliced in before the closing brace.
      const body = experiments ? Buffer.concat([json.subarray(0, json.lastIndexOf('}')), Buffer.from(`,"experiments":${JSON.stringify(experiments)}}`)]) : json;
      return reply.type('application/json; charset=utf-8').send(body as never);
    },
  );

  app.put(
    '/api/books/:book/position',
    {
      config: { access: 'writer' },
      schema: { tags: ['progress'], summary: 'Where the student left off', params: BookParams, body: PositionBody, response: { 200: Position, ...errorReplies(400, 401, 403, 404, 415) } },
    },
    async (request, reply) => setPosition(app.db, await writerOf(request, reply), request.body.page, request.body.scroll),
  );

  app.get(
    '/api/books/:book/position',
    { config: { access: 'user' }, schema: { tags: ['progress'], summary: 'Where the student left off', params: BookParams, response: { 200: Position, ...errorReplies(400, 401, 404) } } },
    async (request) => {
      const found = await position(app.db, ownerOf(request));
      if (!found) throw new HttpError(404, 'no_position', 'no position saved in this book yet');
      return found;
    },
  );

  app.put(
    '/api/books/:book/pages/complete',
    {
      config: { access: 'writer' },
      schema: {
        tags: ['progress'],
        summary: 'Mark a page complete (or not)',
        params: BookParams,
        body: CompleteBody,
        response: { 200: Completion, ...errorReplies(400, 401, 403, 404, 415) },
      },
    },
    async (request, reply) => {
      const owner = await writerOf(request, reply);
      await setPageComplete(app.db, owner, request.body.page, request.body.complete);
      await app.ltiScores.workChanged(owner, { page: request.body.page });
      return request.body;
    },
  );

  app.get(
    '/api/books/:book/progress/me',
    { config: { access: 'user' }, schema: { tags: ['progress'], summary: 'The pages the student completed', params: BookParams, response: { 200: Progress, ...errorReplies(400, 401, 404) } } },
    async (request) => ({ completed: await completedPages(app.db, ownerOf(request)) }),
  );
};

export default pageRoutes;
