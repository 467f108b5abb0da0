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
 * or only @fastify/cors's catch-all `OPTIONS *` (a preflight): no handler of Folio runs for those, and their
 * canonical path decides (below).
 */
function routePattern(request: FastifyRequest): string | undefined {
  // A getter that builds a small object: ~40 ns a call.
  const pattern = request.routeOptions.url;
  return pattern === '*' ? undefined : pattern;
}

/** A percent-encoded unreserved character (RFC 3986: ALPHA, DIGIT, `-`, `.`, `_`, `~`). */
const encodedUnreserved = /%(?:[46][1-9a-f]|[57][0-9a]|3[0-9]|2[de]|5f|7e)/gi;

/**
 * The raw path of a request no route matched, in origin form with its unreserved characters decoded (RFC 3986's
 * normalisation): the static parts of Folio's routes are made of those, so a preflight for `/%61pi/books/book/…`
 * is judged as the request it announces will be routed. Other encodings stay (the book segment is decoded once,
 * as the router decodes the parameter). Only 404s and preflights get here.
 */
function canonicalPath(url: string): string {
  let path = url;
  if (path.charCodeAt(0) !== 47 /* / */) {
    // Absolute form, `http://host/path`: the router drops the scheme and host.
    const start = /^https?:\/\/[^/]*/i.exec(path);
    path = start ? path.slice(start[0].length) : '';
  }
  return path.includes('%') ? path.replace(encodedUnreserved, (code) => String.fromCharCode(parseInt(code.slice(1), 16))) : path;
}

/** Whether a path (a route's pattern, or a raw path with its query) is /api or under it. */
export function underApi(path: string): boolean {
  return path.startsWith('/api') && (path.length === 4 || path.charCodeAt(4) === 47 /* / */ || path.charCodeAt(4) === 63 /* ? */);
}

/** Whether the request matched no route of Folio's: a 404, or a preflight (@fastify/cors's catch-all `OPTIONS *`). */
export function isUnrouted(request: FastifyRequest): boolean {
  return routePattern(request) === undefined;
}

/** Whether the request is for the JSON API (under /api), as routed. */
export function isApiRequest(request: FastifyRequest): boolean {
  return underApi(routePattern(request) ?? canonicalPath(request.url));
}

const bookRoute = '/api/books/:book';

/**
 * For a request to the API: `{book}`, the book it is about under `/api/books/:book/…` (the router's decoded
 * parameter; for a request that matched no route, the decoded segment of its canonical path, `''` when that does
 * not decode), else `{book: undefined}`; undefined for a request outside the API. One look at the route for both.
 */
export function apiBookOf(request: FastifyRequest): { book: string | undefined } | undefined {
  const pattern = routePattern(request);
  if (pattern === undefined) {
    const path = canonicalPath(request.url);
    return underApi(path) ? { book: bookOfPath(path) } : undefined;
  }
  if (!underApi(pattern)) return undefined;
  const perBook = pattern.startsWith(bookRoute) && (pattern.length === bookRoute.length || pattern.charCodeAt(bookRoute.length) === 47);
  return perBook ? (request.params as { book: string }) : noBook;
}

const noBook = { book: undefined };

/** The browser client's files (`/client/…`), as routed. */
export function isClientAssetRequest(request: FastifyRequest): boolean {
  return (routePattern(request) ?? canonicalPath(request.url)).startsWith('/client/');
}
