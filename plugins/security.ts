import helmet, { type FastifyHelmetOptions } from '@fastify/helmet';
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { BookRegistry } from '../lib/book-registry.js';
import { HttpError } from '../lib/errors.js';
import { isApiRequest, isUnrouted, underApi } from '../lib/paths.js';
import { servesHttps, type Config } from './config.js';
import { originAllowed } from './cors.js';

export const bodyLimit = 1024 * 1024;

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The route is a navigation from other sites by nature (an identity provider's start and callback, routes/oidc.ts):
     * exempt from the refusal of cross-site navigations into the API. A GET that changes nothing by a cookie.
     */
    crossSiteNavigation?: true;
    /**
     * A GET that records something (an experiment's first exposure, routes/experiments.ts): with a cookie, it must come
     * from an origin of the book, as writes must.
     */
    recordsOnRead?: true;
  }
}

const stateChanging = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function ownOrigin(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}

/**
 * Why an API request is refused before anything else, or undefined: a navigation from another site, or a write
 * with a cookie (the browser sends it by itself) from an origin that may not make it (CSRF).
 */
function refusal(request: FastifyRequest, books: BookRegistry): HttpError | undefined {
  const mode = request.headers['sec-fetch-mode'];
  const site = request.headers['sec-fetch-site'];
  // Only the identity provider's start and callback are navigations from other sites by nature (SPEC §9).
  if (mode === 'navigate' && site !== undefined && site !== 'none' && site !== 'same-origin' && request.routeOptions.config.crossSiteNavigation !== true) {
    return new HttpError(403, 'navigation_refused', 'the API cannot be opened from a link on another site; book pages call it with fetch');
  }
  const changes = stateChanging.has(request.method) || request.routeOptions.config.recordsOnRead === true;
  if (!changes || request.headers.cookie === undefined) return undefined;
  // A bearer token cannot be sent by another site without knowing it, and then the cookie is not used.
  if (/^bearer /i.test(request.headers.authorization ?? '')) return undefined;
  const origin = request.headers.origin;
  if (origin === undefined) {
    return new HttpError(403, 'origin_required', 'a request that changes data with a cookie must carry an Origin header (browsers send it; other clients use a bearer token)');
  }
  if (!originAllowed(books, request) && origin !== ownOrigin(request)) {
    return new HttpError(403, 'origin_not_allowed', `origin ${origin} may not change data here: add it to the book with "folio books origins add"`);
  }
  return undefined;
}

/**
 * The two header policies: pages' (the docs, the client's files, health checks) and the API's. Used by the plugin
 * below and by bench/plugins.ts.
 */
export function headerPolicies(config: Config): { pagePolicy: FastifyHelmetOptions; apiPolicy: FastifyHelmetOptions } {
  const hsts = config.tlsCert ? { maxAge: 15552000, includeSubDomains: false } : false;
  // Pages (the docs, the client's files, health checks) get helmet's defaults; the API, whose replies are JSON for
  // fetch, gets what OWASP's REST security sheet asks of an API: no framing, no sniffing, no rendering of anything
  // — and no headers that only mean something to an HTML document (every reply carries them, ~500 bytes).
  const apiPolicy: FastifyHelmetOptions = {
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    // CORP stays same-origin: CORS-mode fetches are not subject to it, while no-cors loads (<img>, <script>) of a
    // student's data from other sites are blocked.
    crossOriginResourcePolicy: { policy: 'same-origin' },
    xFrameOptions: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: hsts,
    crossOriginOpenerPolicy: false,
    originAgentCluster: false,
    xDnsPrefetchControl: false,
    xDownloadOptions: false,
    xPermittedCrossDomainPolicies: false,
    xXssProtection: false,
  };
  // A route's options are merged over the plugin's (one level deep), so pages name every header the API's policy
  // changes: `true` is helmet's default for it.
  const pagePolicy: FastifyHelmetOptions = {
    contentSecurityPolicy: {
      directives: { defaultSrc: ["'self'"], frameAncestors: ["'none'"], upgradeInsecureRequests: servesHttps(config) ? [] : null },
    },
    crossOriginResourcePolicy: { policy: 'same-origin' },
    xFrameOptions: true,
    referrerPolicy: true,
    strictTransportSecurity: hsts,
    crossOriginOpenerPolicy: true,
    originAgentCluster: true,
    xDnsPrefetchControl: true,
    xDownloadOptions: true,
    xPermittedCrossDomainPolicies: true,
    xXssProtection: true,
  };
  return { pagePolicy, apiPolicy };
}

/**
 * The page policy for Folio's LTI pages, which the LMS shows in its iframe: framing allowed from anywhere (an LMS's
 * pages need not be on its issuer's origin), and a CSP allowing nothing, which a page with a form or a script
 * replaces with its own.
 */
export function framedPagePolicy(config: Config) {
  return {
    ...headerPolicies(config).pagePolicy,
    contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], frameAncestors: ['*'], upgradeInsecureRequests: null } },
    xFrameOptions: false,
  } as const;
}

/**
 * Security headers (@fastify/helmet), JSON-only bodies of at most 1 MiB, the CSRF origin check for
 * cookie-authenticated writes, and no cross-site navigation into the API.
 */
export default fp(
  async function securityPlugin(app) {
    const { pagePolicy, apiPolicy } = headerPolicies(app.config);
    // Registered once with the API's policy, for every request: the API's routes, and also what matches no route of
    // ours under /api (a 404, a refused preflight: the not-found handler, @fastify/cors's `OPTIONS *`). Each route outside /api
    // (the docs, the client's files, health checks) names the page policy, before @fastify/helmet's onRoute hook
    // reads the option. The package builds helmet's middleware again for every request (bench/RESULTS.md; a fix
    // offered in docs/upstream/fastify-helmet.md).
    app.addHook('onRoute', (route) => {
      if (!underApi(route.url)) route.helmet ??= pagePolicy;
    });
    await app.register(helmet, { global: true, enableCSPNonces: false, ...apiPolicy });
    // A 404 outside /api gets the pages' headers, as the pages there would.
    app.addHook('onRequest', (request, reply, done) => {
      if (isUnrouted(request) && !isApiRequest(request)) reply.helmet(pagePolicy);
      done();
    });

    // Fastify parses text/plain by default, which a cross-site form or a no-preflight fetch can send.
    app.removeContentTypeParser('text/plain');

    app.addHook('onRoute', (route) => {
      route.bodyLimit ??= bodyLimit;
    });

    // A callback hook, not an async one: the API's every request passes here, and a promise per request is a cost.
    app.addHook('onRequest', (request, _reply, done) => done(isApiRequest(request) ? refusal(request, app.books) : undefined));
  },
  { name: 'folio-security', fastify: '5.x', dependencies: ['folio-config', 'folio-books', 'folio-cors'], decorators: { fastify: ['config', 'books'] } },
);
