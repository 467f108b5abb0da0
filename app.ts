import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import fp from 'fastify-plugin';
import { readFileSync } from 'node:fs';
import configPlugin, { trustedProxies, type Config } from './plugins/config.js';
import accessPlugin from './plugins/access.js';
import authPlugin from './plugins/auth.js';
import backupsPlugin from './plugins/backups.js';
import booksPlugin from './plugins/books.js';
import corsPlugin from './plugins/cors.js';
import dbPlugin from './plugins/db.js';
import docsPlugin from './plugins/docs.js';
import errorsPlugin from './plugins/errors.js';
import ltiScoresPlugin from './plugins/lti-scores.js';
import rateLimitPlugin from './plugins/rate-limit.js';
import securityPlugin, { bodyLimit } from './plugins/security.js';
import answerRoutes from './routes/answers.js';
import authRoutes from './routes/auth.js';
import booksRoutes from './routes/books.js';
import clientRoutes from './routes/client.js';
import courseRoutes from './routes/courses.js';
import courseQuestionRoutes from './routes/course-questions.js';
import courseReportRoutes from './routes/course-reports.js';
import dashboardRoutes from './routes/dashboard.js';
import eventRoutes from './routes/events.js';
import experimentRoutes from './routes/experiments.js';
import exportRoutes from './routes/export.js';
import handoffRoutes from './routes/handoff.js';
import oidcRoutes from './routes/oidc.js';
import healthRoutes from './routes/health.js';
import instructorRoutes from './routes/instructor.js';
import ltiRoutes from './routes/lti.js';
import ltiDeepLinkingRoutes from './routes/lti-deep-linking.js';
import { buildSerializer, validatorCompiler } from './lib/validation.js';
import pageRoutes from './routes/pages.js';
import programRoutes from './routes/programs.js';
import passwordLinkRoutes from './routes/password-links.js';
import rosterRoutes from './routes/roster.js';

export interface AppOptions {
  config: Config;
  /** Apply pending migrations at start instead of refusing to start. */
  migrate?: boolean;
  /** Pino options, or false for silence (tests). */
  logger?: FastifyServerOptions['logger'];
  /** Where the built browser client is (routes/client.ts); by default dist/client. */
  clientDir?: string;
  /** Where the built dashboard is (routes/dashboard.ts); by default dist/dashboard. */
  dashboardDir?: string;
}

/** The whole system (not encapsulated, so tests and the CLI see its decorators), in order: configuration, the serving lock and backups, storage, errors, the book registry, LTI score passback, CORS, rate limits, protections, authentication, the OpenAPI docs, authorisation (which every route after it declares), then the routes. */
export const folio = fp(async function folio(app: FastifyInstance, opts: AppOptions): Promise<void> {
  // Replies sent while the server shuts down close their connection: a keep-alive client then cannot hold up the exit.
  let closing = false;
  app.addHook('preClose', async () => void (closing = true));
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });

  await app.register(configPlugin, { config: opts.config });
  // Before the database is opened: a restore under way must finish first (plugins/backups.ts).
  await app.register(backupsPlugin);
  await app.register(dbPlugin, { migrate: opts.migrate ?? false });
  await app.register(errorsPlugin);
  await app.register(booksPlugin);
  await app.register(ltiScoresPlugin);
  await app.register(corsPlugin);
  await app.register(rateLimitPlugin);
  await app.register(securityPlugin);
  await app.register(authPlugin);
  await app.register(docsPlugin);
  // Every route after this declares who may call it (config: { access }).
  await app.register(accessPlugin);

  await app.register(healthRoutes);
  await app.register(booksRoutes);
  await app.register(authRoutes);
  await app.register(programRoutes);
  await app.register(answerRoutes);
  await app.register(pageRoutes);
  await app.register(eventRoutes);
  await app.register(instructorRoutes);
  await app.register(courseRoutes);
  await app.register(exportRoutes);
  await app.register(experimentRoutes);
  await app.register(rosterRoutes);
  await app.register(passwordLinkRoutes);
  await app.register(handoffRoutes);
  await app.register(oidcRoutes);
  await app.register(courseReportRoutes);
  await app.register(courseQuestionRoutes);
  await app.register(ltiRoutes);
  await app.register(ltiDeepLinkingRoutes);
  await app.register(clientRoutes, { dir: opts.clientDir });
  await app.register(dashboardRoutes, { dir: opts.dashboardDir });
}, { name: 'folio', fastify: '5.x' });

export function serverOptions(opts: AppOptions): FastifyServerOptions & { https?: object; http?: object } {
  const { config } = opts;
  // Slow or stalled clients are cut off: headers within headersTimeoutMs, the whole request within requestTimeoutMs
  // (checked every second instead of Node's default 30 s).
  const timeouts = {
    headersTimeout: Math.min(config.headersTimeoutMs, config.requestTimeoutMs),
    requestTimeout: config.requestTimeoutMs,
    connectionsCheckingInterval: Math.min(1000, config.headersTimeoutMs / 2),
  };
  return {
    logger: opts.logger ?? { level: config.logLevel },
    bodyLimit,
    trustProxy: trustedProxies(config),
    // Ids may be 128 characters, more once percent-encoded (find-my-way's default is 100).
    routerOptions: { maxParamLength: 512 },
    requestTimeout: config.requestTimeoutMs,
    connectionTimeout: 0,
    keepAliveTimeout: 72_000,
    // Start-up waits for the migrations `--migrate` applies, however long a large database needs (Fastify's default
    // gives each plugin 10 s); the one outside wait, the database answering at all, is bounded by ensureReachable.
    pluginTimeout: 0,
    // Reply serializers are built on their first use (lib/validation.ts), as validators are.
    schemaController: { compilersFactory: { buildSerializer } },
    http: timeouts,
    ...(config.tlsCert && config.tlsKey ? { https: { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey), ...timeouts } } : {}),
  };
}

/** Builds a ready Folio instance: what `folio serve` listens with and what the tests inject into. */
export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const app = Fastify(serverOptions(opts)).withTypeProvider<TypeBoxTypeProvider>();
  // Unknown body fields are refused (400) rather than silently dropped, and bodies are never type-coerced.
  app.setValidatorCompiler(validatorCompiler);
  try {
    await app.register(folio, opts);
    await app.ready();
  } catch (err) {
    await app.close().catch(() => {});
    throw err;
  }
  return app;
}
