import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { faultOf, type DatabaseFault } from '../db/faults.js';
import { pingDatabase } from '../db/index.js';
import { BackupStatus } from '../schemas/backup-status.js';

const Status = Type.Object({ status: Type.Literal('ok') });

/** What /readyz reports: an object that may grow (more parts of Folio's readiness), `status` the sum of them. */
const Readiness = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('not_ready')], { description: 'ok when every part below is ok' }),
  database: Type.Union([Type.Literal('ok'), Type.Literal('unavailable'), Type.Literal('busy'), Type.Literal('full')], {
    description: 'ok; unavailable (cannot be reached); busy (locked by another program); full (no room to write: reads go on)',
  }),
  backup: Type.Optional(BackupStatus),
});

const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/healthz', { config: { access: 'public' }, schema: { tags: ['health'], summary: 'The process is alive', response: { 200: Status } } }, async () => ({ status: 'ok' as const }));

  app.get(
    '/readyz',
    { config: { access: 'public' }, schema: { tags: ['health'], summary: 'The database answers, and has room to write', response: { 200: Readiness, 503: Readiness } } },
    async (_request, reply) => {
      let database: 'ok' | DatabaseFault;
      try {
        await pingDatabase(app.db);
        // A full or locked database still answers a query: the outage under way says so.
        if (app.databaseOutages.fault === 'unavailable') app.databaseOutages.recovered();
        database = app.databaseOutages.fault ?? 'ok';
      } catch (err) {
        database = faultOf(err) ?? 'unavailable';
        app.databaseOutages.found(database, err);
      }
      const status = database === 'ok' ? ('ok' as const) : ('not_ready' as const);
      const backup = app.backups.status();
      return reply.code(status === 'ok' ? 200 : 503).send({ status, database, ...(backup && { backup }) });
    },
  );
};

export default healthRoutes;
