import type { FastifyRequest } from 'fastify';
import { bookOfPath } from './origin.js';

/**
 * The one place that decides which part of Folio a request is for, on the path the router matched: find-my-way
 * decodes percent-encodings and drops an absolute-form's `http://host` before it matches, so `/%61pi/auth/logout`
 * and `http://x/api/auth/logout` reach `/api/auth/logout` while their raw `request.url` does not start with `/api`.
 * CORS, the CSRF check, the navigation refusal, the API's security headers and authentication all ask here.
 */

/**
 * A matched route's pattern (`/api/books/:book/state`), or undefined for a request that matched no route (a 404)
 * or only @fastify/cors's catch-all `OPTIONS *` (a preflight): no handler of Folio runs for those, and their raw
 * path decides (only CORS headers and the refusals, which are safe to give by the raw path).
 */
function routePattern(request: FastifyRequest): string | undefined {
  // A getter that builds a small object: ~40 ns a call.
  const pattern = request.routeOptions.url;
  return pattern === '*' ? undefined : pattern;
}

/** Whether a path (a route's pattern, or a raw path with its query) is /api or under it. */
function underApi(path: string): boolean {
  return path.startsWith('/api') && (path.length === 4 || path.charCodeAt(4) === 47 /* / */ || path.charCodeAt(4) === 63 /* ? */);
}

/** Whether the request is for the JSON API (under /api), as routed. */
export function isApiRequest(request: FastifyRequest): boolean {
  return underApi(routePattern(request) ?? request.url);
}

const bookRoute = '/api/books/:book';

/**
 * For a request to the API: `{book}`, the book it is about under `/api/books/:book/…` (the router's decoded
 * parameter; for a request that matched no route, the decoded segment of its raw path, `''` when that does not
 * decode), else `{book: undefined}`; undefined for a request outside the API. One look at the route for both.
 */
export function apiBookOf(request: FastifyRequest): { book: string | undefined } | undefined {
  const pattern = routePattern(request);
  if (pattern === undefined) return underApi(request.url) ? { book: bookOfPath(request.url) } : undefined;
  if (!underApi(pattern)) return undefined;
  const perBook = pattern.startsWith(bookRoute) && (pattern.length === bookRoute.length || pattern.charCodeAt(bookRoute.length) === 47);
  return perBook ? (request.params as { book: string }) : noBook;
}

const noBook = { book: undefined };

/** The browser client's files (`/client/…`), as routed. */
export function isClientAssetRequest(request: FastifyRequest): boolean {
  return (routePattern(request) ?? request.url).startsWith('/client/');
}
