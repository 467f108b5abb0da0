import type { FastifyInstance } from 'fastify';
import pretty from 'pino-pretty';
import { buildApp, type AppOptions } from './app.js';
import { servesHttps } from './plugins/config.js';

/** Pretty logs for a person at a terminal, JSON lines for everything else. */
function loggerFor(opts: AppOptions): AppOptions['logger'] {
  if (opts.logger !== undefined) return opts.logger;
  const level = opts.config.logLevel;
  // In-process pretty printing (no transport worker), so it also works inside the single binary.
  return process.stdout.isTTY ? { level, stream: pretty({ translateTime: 'HH:MM:ss', ignore: 'pid,hostname' }) } : { level };
}

/**
 * Starts Folio: builds the app, listens, and on SIGINT/SIGTERM stops accepting connections, lets in-flight
 * requests finish (up to the grace period) and closes the database.
 */
export async function startServer(opts: AppOptions): Promise<FastifyInstance> {
  const app = await buildApp({ ...opts, logger: loggerFor(opts) });
  const { config } = opts;
  if (!servesHttps(config)) {
    app.log.warn('serving plain HTTP: fine on localhost for development; in production serve HTTPS (--tls-cert/--tls-key) or run behind a TLS proxy with --trust-proxy 1 (or its address)');
  }
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down: finishing in-flight requests');
    const force = setTimeout(() => {
      app.log.error(`in-flight requests did not finish within ${config.shutdownGraceMs} ms; exiting`);
      process.exit(1);
    }, config.shutdownGraceMs);
    force.unref();
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        app.log.error({ err }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  await app.listen({ host: config.host, port: config.port });
  return app;
}
