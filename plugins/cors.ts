import cors, { type FastifyCorsOptions } from '@fastify/cors';
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { BookRegistry } from '../lib/book-registry.js';
import { apiBookOf, isClientAssetRequest } from '../lib/paths.js';

export const allowedMethods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
export const allowedHeaders = ['content-type', 'authorization', 'x-folio-mode'];
/** Non-safelisted response headers the browser client reads. */
export const exposedHeaders = ['retry-after', 'x-folio-token', 'x-folio-export-users', 'x-folio-excluded-users', 'x-folio-export-until'];

const preflightVary = 'Access-Control-Request-Method, Access-Control-Request-Headers';

/** CORS for the client's files: any origin, never credentials (nothing private is served there). */
const clientAsset: FastifyCorsOptions = { origin: '*', credentials: false, preflight: false };

function isPreflight(request: FastifyRequest): boolean {
  return request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined;
}

/**
 * Whether the request's Origin may call this path, as routed (lib/paths.ts): the book's origins under
 * /api/books/:book/, the union of all books' origins elsewhere under /api. Two Origin headers arrive joined by a
 * comma and match nothing.
 */
export function originAllowed(books: BookRegistry, request: FastifyRequest): boolean {
  const origin = request.headers.origin;
  if (typeof origin !== 'string' || origin === '') return false;
  const api = apiBookOf(request);
  return api !== undefined && books.allows(origin, api.book);
}

export default fp(
  async function corsPlugin(app) {
    const { books } = app;
    const allowed: FastifyCorsOptions = {
      credentials: true,
      // Joined once here, not on every request.
      methods: allowedMethods.join(', '),
      allowedHeaders: allowedHeaders.join(', '),
      exposedHeaders: exposedHeaders.join(', '),
      maxAge: app.config.corsMaxAge,
      strictPreflight: false,
    };
    const refused: FastifyCorsOptions = { origin: false };
    // The options of each allowed origin, built once (only allowlisted origins get here, so they are few).
    const optionsOf = new Map<string, FastifyCorsOptions>();
    const forOrigin = (origin: string, preflight: boolean) => {
      const key = `${preflight ? 'p' : 'r'}${origin}`;
      let options = optionsOf.get(key);
      if (!options) optionsOf.set(key, (options = { ...allowed, origin, preflight }));
      return options;
    };
    await app.register(cors, {
      delegator(request, callback) {
        const origin = request.headers.origin;
        // The browser client's files: public, fetched in CORS mode by `<script type="module">` and `import` from any book.
        if (isClientAssetRequest(request)) return callback(null, typeof origin === 'string' && origin !== '' ? clientAsset : refused);
        if (!originAllowed(books, request)) return callback(null, refused);
        // An OPTIONS without Access-Control-Request-Method is no preflight: it gets the 404 of an unknown route.
        callback(null, forOrigin(origin!, isPreflight(request)));
      },
    });

    // Preflight answers depend on the requested method and headers too: say so to caches.
    app.addHook('onSend', (request, reply, payload, done) => {
      if (isPreflight(request)) {
        const vary = reply.getHeader('vary');
        reply.header('vary', vary ? `${String(vary)}, ${preflightVary}` : preflightVary);
      }
      done(null, payload);
    });
  },
  { name: 'folio-cors', fastify: '5.x', dependencies: ['folio-config', 'folio-books'], decorators: { fastify: ['config', 'books'] } },
);
