import type { FastifyError } from 'fastify';
import fp from 'fastify-plugin';
import { ErrorBody, HttpError, errorCodeFor } from '../lib/errors.js';

/** Names the field that failed, e.g. `body/answer/0/indent must be integer`. */
function validationMessage(err: FastifyError): string {
  const first = err.validation?.[0];
  if (first?.keyword === 'discriminator') {
    const { tag, tagValue } = first.params as { tag: string; tagValue: unknown };
    return `${err.validationContext}/${tag} ${JSON.stringify(tagValue)} is not one of the known values`;
  }
  return err.message;
}

/** Every error leaves as `{statusCode, error, message}` JSON; a 5xx never shows its internals. */
export default fp(
  async function errorsPlugin(app) {
    app.addSchema(ErrorBody);

    app.setErrorHandler((err: FastifyError | HttpError, request, reply) => {
      let statusCode = err.statusCode ?? 500;
      if (statusCode < 400 || statusCode > 599) statusCode = 500;
      if (err instanceof HttpError) {
        return reply.code(statusCode).headers(err.headers).send({ statusCode, error: err.code, message: err.message });
      }
      if (statusCode >= 500) {
        request.log.error({ err }, 'request failed');
        return reply.code(statusCode).send({ statusCode, error: 'internal_error', message: 'Folio could not handle this request; it has been logged' });
      }
      const message = (err as FastifyError).validation ? validationMessage(err as FastifyError) : err.message.replace(/^FST_\w+: /, '');
      return reply.code(statusCode).send({ statusCode, error: errorCodeFor(statusCode, err.code), message });
    });

    app.setNotFoundHandler((request, reply) => {
      reply.code(404).send({ statusCode: 404, error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` });
    });
  },
  { name: 'folio-errors', fastify: '5.x' },
);
