import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { latestProgram, programHistory, saveProgram } from '../db/work.js';
import { HttpError } from '../lib/errors.js';
import { errorReplies } from '../schemas/common.js';
import { ActivityParams, History, HistoryQuery, maxCodeBytes, Program, ProgramBody, Saved } from '../schemas/work.js';
import { ownerOf, writerOf } from '../plugins/access.js';

const programRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.put(
    '/api/books/:book/programs/:activity',
    {
      config: { access: 'writer' },
      schema: {
        tags: ['work'],
        summary: 'Save a new version of a program (every save is kept)',
        params: ActivityParams,
        body: ProgramBody,
        response: { 200: Saved, ...errorReplies(400, 401, 403, 404, 413, 415) },
        description: '413 page_full: the page state would pass FOLIO_PAGE_STATE_MAX_BYTES; 413 quota_exceeded: the user has used a storage quota (FOLIO_QUOTA_*).',
      },
    },
    async (request, reply) => {
      if (Buffer.byteLength(request.body.code) > maxCodeBytes) throw new HttpError(413, 'too_large', 'body/code is over 512 KiB');
      const owner = await writerOf(request, reply);
      return saveProgram(app.db, owner, request.params.activity, request.body, app.config);
    },
  );

  app.get(
    '/api/books/:book/programs/:activity',
    { config: { access: 'user' }, schema: { tags: ['work'], summary: 'The latest version of a program', params: ActivityParams, response: { 200: Program, ...errorReplies(400, 401, 404) } } },
    async (request) => {
      const program = await latestProgram(app.db, ownerOf(request), request.params.activity);
      if (!program) throw new HttpError(404, 'no_program', `nothing saved for activity "${request.params.activity}" yet`);
      return program;
    },
  );

  app.get(
    '/api/books/:book/programs/:activity/history',
    {
      config: { access: 'user' },
      schema: {
        tags: ['work'],
        summary: 'Saved versions, newest first, a page at a time (at most `limit`, and at most FOLIO_HISTORY_PAGE_MAX_BYTES of code)',
        params: ActivityParams,
        querystring: HistoryQuery,
        response: { 200: History, ...errorReplies(400, 401, 404) },
      },
    },
    async (request) => {
      const { limit, before } = request.query;
      return programHistory(app.db, ownerOf(request), request.params.activity, limit, before, app.config.historyPageMaxBytes);
    },
  );
};

export default programRoutes;
