import cookie, { type CookieSerializeOptions } from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { deleteExpiredSessions, deleteSession, extendSession, findSessionWithUser, newToken, saveSession, sessionKey } from '../db/sessions.js';
import { createAnonymousUser, purgeIdleAnonymousUsers, type UserRow } from '../db/users.js';
import { faultOf } from '../db/faults.js';
import { HttpError } from '../lib/errors.js';
import { PasswordWork } from '../lib/passwords.js';
import { isApiRequest } from '../lib/paths.js';
import { RememberingSigner } from '../lib/session-signer.js';
import { servesHttps } from './config.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The user the request is authenticated as, by cookie or bearer token, or null. */
    user: UserRow | null;
    /** How the request authenticated, or null. */
    credential: { kind: 'cookie' | 'token'; token: string } | null;
    /** A session cookie or token was presented but no live session matches it (expired, revoked or forged). */
    credentialStale: boolean;
  }
  interface FastifyInstance {
    /** The session cookie's name: `__Host-folio` over HTTPS, `folio` over plain HTTP. */
    sessionCookieName: string;
    /** Its attributes but the expiry (HttpOnly; Secure; SameSite=None; Partitioned over HTTPS, SameSite=Lax over HTTP). */
    sessionCookieOptions: CookieSerializeOptions;
    /** Sets the session cookie for `token`, expiring at `expiresAt` (ms), signed with the current secret. */
    setSessionCookie(reply: FastifyReply, token: string, expiresAt: number): void;
    /** Password hashing and checking, a few at a time (FOLIO_PASSWORD_CONCURRENCY, FOLIO_PASSWORD_QUEUE). */
    passwords: PasswordWork;
  }
}

const DAY = 24 * 60 * 60 * 1000;

/** The 401 for a request that needs a user. Says whether a session ended, so the client keeps the write and asks to log in. */
function unauthenticated(request: FastifyRequest): HttpError {
  return request.credentialStale
    ? new HttpError(401, 'session_expired', 'your session has ended: log in again (nothing from this request was saved)')
    : new HttpError(401, 'unauthenticated', 'log in first (POST /api/auth/login), or send Authorization: Bearer <token>');
}

/** The authenticated user, or a 401. */
export function requireUser(request: FastifyRequest): UserRow {
  if (!request.user) throw unauthenticated(request);
  return request.user;
}

/** The authenticated user, or a 403 unless they have one of the roles. */
export function requireRole(request: FastifyRequest, ...roles: UserRow['role'][]): UserRow {
  const user = requireUser(request);
  if (roles.includes(user.role)) return user;
  const wanted = roles.length > 1 ? `${roles.slice(0, -1).join(', ')} or ${roles.at(-1)}` : roles[0];
  throw new HttpError(403, 'forbidden', `this needs the ${wanted} role`);
}

/**
 * The user a write belongs to: the authenticated one, or, on a first write without any session, a new
 * anonymous user with a new session (a cookie, or with `X-Folio-Mode: token` a token in `X-Folio-Token`).
 * A stale session is a 401, never a silent new identity: the client keeps the write for after login.
 */
export async function ensureUser(request: FastifyRequest, reply: FastifyReply): Promise<UserRow> {
  if (request.user) return request.user;
  if (request.credentialStale) throw unauthenticated(request);
  await request.server.limitAnonymousStart(request);
  const user = await createAnonymousUser(request.server.db);
  await startSession(request, reply, user, request.headers['x-folio-mode'] === 'token' ? 'token' : 'cookie');
  return user;
}

/**
 * Ends whatever session the request came with and starts a new one for `user` (login, register, anonymous
 * start): a new cookie (the old one stops working), or a new bearer token, which is returned.
 */
export async function startSession(request: FastifyRequest, reply: FastifyReply, user: UserRow, mode: 'cookie' | 'token'): Promise<string | undefined> {
  const { db, config } = request.server;
  if (request.credential) await deleteSession(db, request.credential.token);
  const token = newToken();
  const expiresAt = Date.now() + Math.min(config.sessionDays, config.sessionMaxDays) * DAY;
  await saveSession(db, token, { userId: user.id, kind: mode, expiresAt, data: '{}' });
  request.user = user;
  request.credential = { kind: mode, token };
  if (mode === 'token') {
    if (request.cookies[request.server.sessionCookieName] !== undefined) clearSessionCookie(request, reply);
    reply.header('x-folio-token', token);
    return token;
  }
  request.server.setSessionCookie(reply, token, expiresAt);
  return undefined;
}

function clearSessionCookie(request: FastifyRequest, reply: FastifyReply): void {
  reply.clearCookie(request.server.sessionCookieName, request.server.sessionCookieOptions);
}

/** The request came with a credential that matches no live session: a dead cookie is cleared (a new session's replaces that). */
function stale(request: FastifyRequest, reply: FastifyReply, kind: 'cookie' | 'token'): void {
  request.credentialStale = true;
  if (kind === 'cookie') clearSessionCookie(request, reply);
}

/** Ends the request's session (logout) and tells the browser to drop the cookie. */
export async function endSession(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (request.credential) await deleteSession(request.server.db, request.credential.token);
  request.user = null;
  request.credential = null;
  if (request.cookies[request.server.sessionCookieName] !== undefined) clearSessionCookie(request, reply);
}

/** The stored key of the request's session (to spare it when ending a user's other sessions). */
export function currentSessionKey(request: FastifyRequest): string | undefined {
  return request.credential ? sessionKey(request.credential.token) : undefined;
}

/**
 * The periodic clean-up: sessions past their expiry or their maximum age, and anonymous students who saved nothing and
 * have not been seen for FOLIO_ANONYMOUS_IDLE_DAYS (a session in use is renewed at least every `renewEvery`, so one
 * expiring later than the idle cut-off + its lifetime - `renewEvery` may have been used since: its user stays).
 */
export async function sweepSessions(app: FastifyInstance, now = Date.now()): Promise<void> {
  const { sessionDays, sessionMaxDays, anonymousIdleDays } = app.config;
  const ttl = sessionDays * DAY;
  const sessions = await deleteExpiredSessions(app.db, now, now - sessionMaxDays * DAY);
  if (sessions > 0) app.log.info({ sessions }, 'removed expired sessions');
  const idleSince = now - anonymousIdleDays * DAY;
  const users = await purgeIdleAnonymousUsers(app.db, { idleSince, sessionsExpiringAfter: idleSince + ttl - ttl / 30 });
  if (users > 0) app.log.info({ event: 'anonymous_purged', users, idleDays: anonymousIdleDays }, `removed ${users} anonymous students who saved nothing and were idle`);
}

/**
 * Cookie and bearer authentication over database sessions: a cookie holds a session token signed with the server
 * secret (@fastify/cookie's signer), a bearer header a token of its own; either is looked up, hashed, in the
 * sessions table with its user, in one read. Decorates each request with `user`, `credential` and
 * `credentialStale`; sessions slide (their expiry is written at most once per 1/30 of their lifetime), but never past
 * FOLIO_SESSION_MAX_DAYS after their login.
 */
export default fp(
  async function authPlugin(app) {
    const https = servesHttps(app.config);
    const ttl = app.config.sessionDays * DAY;
    const renewEvery = ttl / 30;
    const maxAge = app.config.sessionMaxDays * DAY;
    const cookieName = https ? '__Host-folio' : 'folio';
    if (!https) app.log.warn('session cookies are SameSite=Lax without Secure over plain HTTP: book pages on other sites will use token mode; serve HTTPS for cross-site cookies');

    const cookieOptions: CookieSerializeOptions = https
      ? { path: '/', httpOnly: true, secure: true, sameSite: 'none', partitioned: true }
      : { path: '/', httpOnly: true, secure: false, sameSite: 'lax' };
    const signer = new RememberingSigner(app.secret);
    app.decorate(
      'passwords',
      new PasswordWork(app.config.passwordConcurrency, app.config.passwordQueue, (seconds) => {
        return new HttpError(503, 'server_busy', `too many passwords are being checked at once: try again in ${seconds} s`, { 'retry-after': String(seconds) });
      }),
    );
    app.decorate('sessionCookieName', cookieName);
    app.decorate('sessionCookieOptions', cookieOptions);
    app.decorate('setSessionCookie', (reply: FastifyReply, token: string, expiresAt: number) => {
      reply.setCookie(cookieName, signer.sign(token), { ...cookieOptions, expires: new Date(expiresAt) });
    });
    await app.register(cookie);

    app.decorateRequest('user', null);
    app.decorateRequest('credential', null);
    app.decorateRequest('credentialStale', false);

    app.addHook('onRequest', async (request, reply) => {
      if (!isApiRequest(request) || request.method === 'OPTIONS') return;
      let kind: 'cookie' | 'token';
      let token: string;
      const authorization = request.headers.authorization;
      if (authorization !== undefined) {
        const bearer = /^Bearer +([A-Za-z0-9_-]{20,200})$/i.exec(authorization);
        if (!bearer) throw new HttpError(401, 'invalid_authorization', 'the Authorization header must be "Bearer <token>" with a token from login or register');
        kind = 'token';
        token = bearer[1]!;
      } else {
        const cookieValue = request.cookies[cookieName];
        if (cookieValue === undefined) return;
        const unsigned = signer.unsign(cookieValue);
        if (!unsigned.valid) return stale(request, reply, 'cookie');
        kind = 'cookie';
        token = unsigned.value;
      }
      const found = await findSessionWithUser(app.db, token);
      const now = Date.now();
      if (found?.session.kind !== kind || found.session.createdAt + maxAge <= now) return stale(request, reply, kind);
      request.user = found.user;
      request.credential = { kind, token };
      const expiresAt = Math.min(now + ttl, found.session.createdAt + maxAge);
      if (expiresAt - found.session.expiresAt >= renewEvery) {
        // A renewal the database cannot take now (full, busy, away) waits for a later request: the session is still live.
        const renewed = await extendSession(app.db, token, expiresAt).then(
          () => true,
          (err: unknown) => {
            if (faultOf(err) === undefined) throw err;
            return false;
          },
        );
        if (renewed && kind === 'cookie') app.setSessionCookie(reply, token, expiresAt);
      }
    });

    const sweep = setInterval(() => {
      sweepSessions(app).catch((err: unknown) => app.log.error({ err }, 'could not remove expired sessions and idle anonymous students'));
    }, Math.min(ttl / 30, 60 * 60 * 1000));
    sweep.unref();
    app.addHook('onClose', async () => clearInterval(sweep));

    // A reply about a person is never stored by a browser or a proxy: every reply to a request that came with a
    // session or credential, or that sets one (a cookie, or a token in the body or X-Folio-Token). A header, no query.
    app.addHook('onSend', (request, reply, payload, done) => {
      if (
        (request.user !== null || request.credentialStale || request.headers.authorization !== undefined || reply.hasHeader('set-cookie') || reply.hasHeader('x-folio-token')) &&
        !reply.hasHeader('cache-control')
      ) {
        reply.header('cache-control', 'no-store');
      }
      done(null, payload);
    });
  },
  {
    name: 'folio-auth',
    fastify: '5.x',
    dependencies: ['folio-config', 'folio-db', 'folio-security', 'folio-rate-limit'],
    decorators: { fastify: ['config', 'db', 'secret'] },
  },
);
