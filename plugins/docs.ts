import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import fp from 'fastify-plugin';
import { readFileSync } from 'node:fs';
import { version } from '../cli/version.js';
import { assetFolder, assetPath, isSingleBinary } from '../lib/assets.js';

/** The OpenAPI document at /docs/json, generated from the route schemas, and a browsable UI at /docs. */
export default fp(
  async function docsPlugin(app) {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'Folio',
          version,
          description:
            'Saves students\' work for interactive textbooks hosted on any web server. Call it with `fetch(url, {credentials: "include"})` ' +
            'from a page whose origin is registered for the book, or with `Authorization: Bearer <token>` (token mode). ' +
            'Errors are `{statusCode, error, message}`: `error` is a stable code, `message` says what to do.',
        },
        tags: [
          { name: 'auth', description: 'accounts and sessions' },
          { name: 'work', description: 'programs and answers' },
          { name: 'progress', description: 'position and completed pages' },
          { name: 'events', description: 'research events' },
          { name: 'courses', description: 'courses: joining with a code, the courses you study or teach, the roster (staff)' },
          { name: 'course reports', description: 'a course\'s progress grid, question statistics, a student\'s work, its research export (the course\'s staff and admins)' },
          { name: 'instructors', description: 'book-wide progress and work of every student of a book (admins; course staff use the course reports)' },
          { name: 'research', description: 'consent-aware, pseudonymised exports' },
          { name: 'experiments', description: 'research experiments: a student\'s variant (assigned once, the same on every device); defining, stopping and reporting them (researchers and admins)' },
          { name: 'books', description: 'books' },
          { name: 'health', description: 'liveness and readiness' },
          { name: 'lti', description: 'LTI 1.3: Folio as a tool of an LMS (so far: its public keys)' },
        ],
        components: {
          securitySchemes: {
            cookie: { type: 'apiKey', in: 'cookie', name: app.sessionCookieName },
            bearer: { type: 'http', scheme: 'bearer', description: 'a token from login or register with {"mode": "token"}' },
          },
        },
        security: [{ cookie: [] }, { bearer: [] }],
      },
    });
    if (!isSingleBinary()) {
      await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
      return;
    }
    // The single binary has no node_modules: it carries swagger-ui's static files (2.5 MB) as assets, written on the
    // first request for the docs rather than at every start (lib/assets.ts). A context of their own holds that hook.
    const logo = { type: 'image/svg+xml', content: readFileSync(assetPath('swagger-ui/logo.svg')) };
    await app.register(async function carriedDocs(docs) {
      docs.addHook('onRequest', async () => void assetPath('swagger-ui'));
      await docs.register(swaggerUi, { routePrefix: '/docs', staticCSP: true, baseDir: assetFolder('swagger-ui'), logo });
    });
  },
  { name: 'folio-docs', fastify: '5.x', dependencies: ['folio-auth'], decorators: { fastify: ['sessionCookieName'] } },
);
