import closeWithGrace from 'close-with-grace';
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppOptions } from './app.js';
import { servesHttps } from './plugins/config.js';

/** Pretty logs for a person at a terminal, JSON lines for everything else. */
async function loggerFor(opts: AppOptions): Promise<AppOptions['logger']> {
  if (opts.logger !== undefined) return opts.logger;
  const level = opts.config.logLevel;
  if (!process.stdout.isTTY) return { level };
  // In-process pretty printing (no transport worker), so it also works inside the single binary; loaded only here.
  const { default: pretty } = await import('pino-pretty');
  return { level, stream: pretty({ translateTime: 'HH:MM:ss', ignore: 'pid,hostname' }) };
}

/**
 * Starts Folio: builds the app, listens, and on SIGINT/SIGTERM stops accepting connections, lets in-flight
 * requests finish (up to the grace period) and closes the database.
 */
export async function startServer(opts: AppOptions): Promise<FastifyInstance> {
  const app = await buildApp({ ...opts, logger: await loggerFor(opts) });
  const { config } = opts;
  if (!servesHttps(config)) {
    app.log.warn('serving plain HTTP: fine on localhost for development; in production serve HTTPS (--tls-cert/--tls-key) or run behind a TLS proxy with --trust-proxy 1 (or its address)');
  }
  // close-with-grace: the first signal (or an uncaught error) closes the app, exit 0 when it closes cleanly, 1 on an
  // error or when in-flight requests outlast the grace period; a second signal exits at once.
  closeWithGrace({ delay: config.shutdownGraceMs, logger: false, onTimeout: (delay) => app.log.error(`in-flight requests did not finish within ${delay} ms; exiting`) }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an uncaught error');
    else app.log.info({ signal }, 'shutting down: finishing in-flight requests');
    await app.close().catch((error: unknown) => {
      app.log.error({ err: error }, 'error while shutting down');
      throw error;
    });
  });
  await app.listen({ host: config.host, port: config.port });
  return app;
}
