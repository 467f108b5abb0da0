import type { FastifyError } from 'fastify';
import fp from 'fastify-plugin';
import { DatabaseOutages, faultOf, type DatabaseFault } from '../db/faults.js';
import { pingDatabase } from '../db/index.js';
import { ErrorBody, HttpError, errorCodeFor } from '../lib/errors.js';
import { isApiRequest } from '../lib/paths.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The database's outages as requests meet them (db/faults.ts): answered with a 503/507, logged once each. */
    databaseOutages: DatabaseOutages;
  }
}

/** Names the field that failed, e.g. `body/answer/0/indent must be integer`. */
function validationMessage(err: FastifyError): string {
  const first = err.validation?.[0];
  if (first?.keyword === 'discriminator') {
    const { tag, tagValue } = first.params as { tag: string; tagValue: unknown };
    return `${err.validationContext}/${tag} ${JSON.stringify(tagValue)} is not one of the known values`;
  }
  return err.message;
}

const stateChanging = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** How each fault is answered: status, code, plain words, and when to try again (seconds). */
const faultReplies: Record<DatabaseFault, { statusCode: number; error: string; message: string; retryAfter: number }> = {
  unavailable: {
    statusCode: 503,
    error: 'database_unavailable',
    message: 'the database cannot be reached just now; nothing of this request was saved: try again in a few seconds',
    retryAfter: 5,
  },
  busy: {
    statusCode: 503,
    error: 'database_busy',
    message: 'the database is locked by another program; nothing of this request was saved: try again in a few seconds',
    retryAfter: 5,
  },
  full: {
    statusCode: 507,
    error: 'insufficient_storage',
    message: 'the database has no room left for new data; nothing of this request was saved (what was saved before is kept): try again later',
    retryAfter: 60,
  },
};

const outageWords: Record<DatabaseFault, string> = {
  unavailable: 'the database cannot be reached: refusing requests that need it with 503 until it answers',
  busy: 'the database is locked by another program past the busy timeout: refusing writes with 503 until it is free',
  full: 'the database has no room left: refusing writes with 507 (reads go on) until a write succeeds',
};

/**
 * Every error leaves as `{statusCode, error, message}` JSON; a 5xx never shows its internals. A database fault
 * (db/faults.ts: unreachable, locked, full) is no crash: a 503 or 507 with Retry-After, and one log line when the
 * outage begins and one when it ends, instead of an error per request.
 */
export default fp(
  async function errorsPlugin(app) {
    app.addSchema(ErrorBody);

    const outages = new DatabaseOutages(
      {
        began: (fault, err) => app.log.warn({ outage: fault, err }, outageWords[fault]),
        ended: (fault, ms, refused) => app.log.info({ outage: fault, ended: true, ms, refused }, `the database answers again after ${(ms / 1000).toFixed(1)} s; ${refused} request(s) were refused meanwhile`),
      },
      // Unreachable: a query; locked: an empty write transaction (it must take the write lock).
      (fault) => (fault === 'busy' ? app.db.writeSteps([]).then(() => undefined) : pingDatabase(app.db)),
    );
    app.decorate('databaseOutages', outages);
    app.addHook('onClose', async () => outages.close());

    app.setErrorHandler((err: FastifyError | HttpError, request, reply) => {
      let statusCode = err.statusCode ?? 500;
      if (statusCode < 400 || statusCode > 599) statusCode = 500;
      if (err instanceof HttpError) {
        return reply.code(statusCode).headers(err.headers).send({ statusCode, error: err.code, message: err.message });
      }
      if (statusCode >= 500) {
        const fault = faultOf(err);
        if (fault) {
          outages.refused(fault, err);
          const answer = faultReplies[fault];
          return reply.code(answer.statusCode).header('retry-after', String(answer.retryAfter)).send({ statusCode: answer.statusCode, error: answer.error, message: answer.message });
        }
        request.log.error({ err }, 'request failed');
        return reply.code(statusCode).send({ statusCode, error: 'internal_error', message: 'Folio could not handle this request; it has been logged' });
      }
      const message = (err as FastifyError).validation ? validationMessage(err as FastifyError) : err.message.replace(/^FST_\w+: /, '');
      return reply.code(statusCode).send({ statusCode, error: errorCodeFor(statusCode, err.code), message });
    });

    // A write answered 2xx while an outage is on ends it (a full disk is over only when a write fits again).
    app.addHook('onResponse', (request, reply, done) => {
      if (outages.fault !== undefined && reply.statusCode < 300 && stateChanging.has(request.method) && isApiRequest(request)) outages.recovered();
      done();
    });

    app.setNotFoundHandler((request, reply) => {
      reply.code(404).send({ statusCode: 404, error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` });
    });
  },
  { name: 'folio-errors', fastify: '5.x', dependencies: ['folio-db'], decorators: { fastify: ['db'] } },
);
