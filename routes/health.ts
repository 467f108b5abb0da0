import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { errorReplies } from '../schemas/common.js';
import { HttpError } from '../lib/errors.js';
import { pingDatabase } from '../db/index.js';
import { BackupStatus } from '../schemas/backup-status.js';

const Status = Type.Object({ status: Type.Literal('ok') });
const Readiness = Type.Object({ status: Type.Literal('ok'), backup: Type.Optional(BackupStatus) });

const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/healthz', { schema: { tags: ['health'], summary: 'The process is alive', response: { 200: Status } } }, async () => ({ status: 'ok' as const }));

  app.get(
    '/readyz',
    { schema: { tags: ['health'], summary: 'The database answers', response: { 200: Readiness, ...errorReplies(503) } } },
    async (request) => {
      try {
        await pingDatabase(app.db);
      } catch (err) {
        request.log.error({ err }, 'readiness check failed');
        throw new HttpError(503, 'database_unavailable', 'the database does not answer');
      }
      const backup = app.backups.status();
      return { status: 'ok' as const, ...(backup && { backup }) };
    },
  );
};

export default healthRoutes;
