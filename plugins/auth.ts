import cookie, { type CookieSerializeOptions } from '@fastify/cookie';
import session from '@fastify/session';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { DatabaseSessionStore, sessionId } from '../db/session-store.js';
import { deleteExpiredHandoffs } from '../db/handoffs.js';
import { deleteExpiredLtiStates } from '../db/lti-launch.js';
import { deleteExpiredOidcStates } from '../db/oidc.js';
import { deleteExpiredSessions, newToken, sessionKey } from '../db/sessions.js';
import { createAnonymousUser, purgeIdleAnonymousUsers, type UserRow } from '../db/users.js';
import { faultOf } from '../db/faults.js';
import { HttpError } from '../lib/errors.js';
import { PasswordWork } from '../lib/passwords.js';
import { isApiRequest } from '../lib/paths.js';
import { RememberingSigner } from '../lib/session-signer.js';
import { servesHttps } from './config.js';

declare module 'fastify' {
  interface Session {
    /** The session's user (the row itself, read with the session in one query, the store hands to the auth hook). */
    userId?: string;
    /** When it started (login): a session never lives past FOLIO_SESSION_MAX_DAYS after. */
    createdAt?: number;
  }
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
    /** The sessions' store (@fastify/session's, over the database; bearer tokens too). */
    sessions: DatabaseSessionStore;
    /** Password hashing and checking, a few at a time (FOLIO_PASSWORD_CONCURRENCY, FOLIO_PASSWORD_QUEUE). */
    passwords: PasswordWork;
  }
}

const DAY = 24 * 60 * 60 * 1000;

/** The 401 for a request that needs a user. Says whether a session ended, so the client keeps the write and asks to log in. */
export function unauthenticated(request: FastifyRequest): HttpError {
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
 * start): a new cookie session (the old one stops working), or a new bearer token, which is returned. The new
 * session is stored before this returns; @fastify/session sets its cookie on the reply.
 */
export async function startSession(request: FastifyRequest, reply: FastifyReply, user: UserRow, mode: 'cookie' | 'token'): Promise<string | undefined> {
  const { sessions, config } = request.server;
  const expiresAt = Date.now() + Math.min(config.sessionDays, config.sessionMaxDays) * DAY;
  if (request.credential?.kind === 'token') await sessions.revoke(request.credential.token);
  if (mode === 'token') {
    if (request.credential?.kind === 'cookie') await request.session.destroy();
    forgetSessionCookie(request, reply);
    const token = newToken();
    await sessions.create(token, user, expiresAt);
    request.user = user;
    request.credential = { kind: 'token', token };
    reply.header('x-folio-token', token);
    return token;
  }
  // The package gave a request without a live cookie session a new one, its id fresh (sessionId, as newToken makes
  // them): a restored one (also one a bearer header overrode) is replaced by a new id (regenerate deletes it).
  if (request.session.userId !== undefined) await request.session.regenerate();
  const { session } = request;
  session.userId = user.id;
  session.cookie.expires = new Date(expiresAt);
  await session.save();
  // The cookie the request came with is replaced: the package sets the new one and has no old one to clear.
  delete request.cookies[request.server.sessionCookieName];
  request.user = user;
  request.credential = { kind: 'cookie', token: session.sessionId };
  return undefined;
}

/**
 * Clears the cookie the request came with, if any, with its attributes (a `__Host-` or Partitioned cookie is only
 * cleared by a Set-Cookie that has them, which @fastify/session's own clearing lacks), and leaves it out of what the
 * package sees, so that it does not clear it again.
 */
function forgetSessionCookie(request: FastifyRequest, reply: FastifyReply): void {
  const name = request.server.sessionCookieName;
  if (request.cookies[name] === undefined) return;
  reply.clearCookie(name, request.server.sessionCookieOptions);
  delete request.cookies[name];
}

/** Ends the request's session (logout) and tells the browser to drop the cookie. */
export async function endSession(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (request.credential?.kind === 'token') await request.server.sessions.revoke(request.credential.token);
  else if (request.credential?.kind === 'cookie') await request.session.destroy();
  request.user = null;
  request.credential = null;
  forgetSessionCookie(request, reply);
}

/** The stored key of the request's session (to spare it when ending a user's other sessions). */
export function currentSessionKey(request: FastifyRequest): string | undefined {
  return request.credential ? sessionKey(request.credential.token) : undefined;
}

/**
 * The periodic clean-up: sessions past their expiry or their maximum age, expired hand-off codes and LTI login states, and anonymous students who saved nothing and
 * have not been seen for FOLIO_ANONYMOUS_IDLE_DAYS (a session in use is renewed at least every `renewEvery`, so one
 * expiring later than the idle cut-off + its lifetime - `renewEvery` may have been used since: its user stays).
 */
export async function sweepSessions(app: FastifyInstance, now = Date.now()): Promise<void> {
  const { sessionDays, sessionMaxDays, anonymousIdleDays } = app.config;
  const ttl = sessionDays * DAY;
  const sessions = await deleteExpiredSessions(app.db, now, now - sessionMaxDays * DAY);
  if (sessions > 0) app.log.info({ sessions }, 'removed expired sessions');
  const handoffs = await deleteExpiredHandoffs(app.db, now);
  if (handoffs > 0) app.log.info({ handoffs }, 'removed expired hand-off codes');
  const ltiStates = await deleteExpiredLtiStates(app.db, now);
  if (ltiStates > 0) app.log.info({ ltiStates }, 'removed expired LTI login states');
  const oidcStates = await deleteExpiredOidcStates(app.db, now);
  if (oidcStates > 0) app.log.info({ oidcStates }, 'removed expired identity-provider sign-in states');
  const idleSince = now - anonymousIdleDays * DAY;
  const users = await purgeIdleAnonymousUsers(app.db, { idleSince, sessionsExpiringAfter: idleSince + ttl - ttl / 30 });
  if (users > 0) app.log.info({ event: 'anonymous_purged', users, idleDays: anonymousIdleDays }, `removed ${users} anonymous students who saved nothing and were idle`);
}

/**
 * Cookie and bearer authentication over database sessions. Cookie sessions go through @fastify/session: the cookie
 * holds a session token signed with the server secret (@fastify/cookie's signer), restored by our store with its
 * user in one read; a bearer header holds a token of its own, looked up through the same store. Decorates each
 * request with `user`, `credential` and `credentialStale`; sessions slide (their expiry is written at most once
 * per 1/30 of their lifetime), but never past FOLIO_SESSION_MAX_DAYS after their login.
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
    const store = new DatabaseSessionStore(app.db, maxAge);
    app.decorate(
      'passwords',
      new PasswordWork(app.config.passwordConcurrency, app.config.passwordQueue, (seconds) => {
        return new HttpError(503, 'server_busy', `too many passwords are being checked at once: try again in ${seconds} s`, { 'retry-after': String(seconds) });
      }),
    );
    app.decorate('sessionCookieName', cookieName);
    app.decorate('sessionCookieOptions', cookieOptions);
    app.decorate('sessions', store);
    app.decorateRequest('user', null);
    app.decorateRequest('credential', null);
    app.decorateRequest('credentialStale', false);

    // Before the package's onSend: a dead cookie that no new session replaces is cleared here, with its attributes.
    app.addHook('onSend', (request, reply, payload, done) => {
      if (request.credentialStale && request.credential === null) forgetSessionCookie(request, reply);
      done(null, payload);
    });
    await app.register(cookie);
    // The session cookie is the API's: other paths (the client's files, the docs, health checks) neither look it up
    // nor clear it, as the package would (its hooks see only the cookies left here).
    app.addHook('onRequest', (request, _reply, done) => {
      if (!isApiRequest(request) && request.cookies[cookieName] !== undefined) delete request.cookies[cookieName];
      done();
    });
    await app.register(session, {
      secret: new RememberingSigner(app.secret),
      cookieName,
      cookie: { ...cookieOptions },
      store,
      idGenerator: sessionId,
      // A session is stored once it has a user (startSession), its expiry written again only when renewed below.
      saveUninitialized: false,
      rolling: false,
    });

    /** A renewal the database cannot take now (full, busy, away) waits for a later request: the session is still live. */
    const renewal = (err: unknown) => {
      if (faultOf(err) === undefined) throw err;
      return false;
    };

    app.addHook('onRequest', async (request) => {
      if (!isApiRequest(request) || request.method === 'OPTIONS') return;
      const now = Date.now();
      const authorization = request.headers.authorization;
      if (authorization !== undefined) {
        const bearer = /^Bearer +([A-Za-z0-9_-]{20,200})$/i.exec(authorization);
        if (!bearer) throw new HttpError(401, 'invalid_authorization', 'the Authorization header must be "Bearer <token>" with a token from login or register');
        const token = bearer[1]!;
        const found = await store.find(token, 'token');
        if (!found) {
          request.credentialStale = true;
          return;
        }
        request.user = found.user;
        request.credential = { kind: 'token', token };
        const expiresAt = Math.min(now + ttl, found.createdAt + maxAge);
        if (expiresAt - found.cookie.expires!.getTime() >= renewEvery) await store.extend(token, expiresAt).catch(renewal);
        return;
      }
      if (request.cookies[cookieName] === undefined) return;
      // @fastify/session restored the cookie's session, whose user the store read with it, or gave the request a new,
      // empty one.
      const { session } = request;
      const user = session.userId === undefined ? undefined : (store.takeUser(session.sessionId) ?? (await store.find(session.sessionId, 'cookie'))?.user);
      if (user === undefined) {
        request.credentialStale = true;
        return;
      }
      request.user = user;
      request.credential = { kind: 'cookie', token: session.sessionId };
      const expiresAt = Math.min(now + ttl, session.createdAt! + maxAge);
      if (expiresAt - session.cookie.expires!.getTime() >= renewEvery) {
        const stored = session.cookie.expires;
        session.cookie.expires = new Date(expiresAt);
        // Saved, the package sets the cookie with the new expiry; not saved, neither changes.
        if ((await session.save().then(() => true, renewal)) === false) session.cookie.expires = stored;
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
