import cookie, { type CookieSerializeOptions } from '@fastify/cookie';
import session, { type SessionStore } from '@fastify/session';
import type { FastifyReply, FastifyRequest, Session } from 'fastify';
import fp from 'fastify-plugin';
import type { Database } from '../db/index.js';
import { deleteExpiredSessions, deleteSession, extendSession, findSessionWithUser, newToken, saveSession, sessionKey } from '../db/sessions.js';
import { createAnonymousUser, findUserById, type UserRow } from '../db/users.js';
import { HttpError } from '../lib/errors.js';
import { RememberingSigner } from '../lib/session-signer.js';
import { servesHttps } from './config.js';

declare module 'fastify' {
  interface Session {
    userId?: string;
    /** When the expiry was last pushed forward (sliding sessions, written at most once per renewal period). */
    renewedAt?: number;
  }
  interface FastifyRequest {
    /** The user the request is authenticated as, by cookie or bearer token, or null. */
    user: UserRow | null;
    /** How the request authenticated, or null. */
    credential: { kind: 'cookie' | 'token'; token: string } | null;
    /** A session cookie or token was presented but no live session matches it (expired or revoked). */
    credentialStale: boolean;
  }
  interface FastifyInstance {
    /** The session cookie's name: `__Host-folio` over HTTPS, `folio` over plain HTTP. */
    sessionCookieName: string;
    /** Its attributes (HttpOnly; Secure; SameSite=None; Partitioned over HTTPS, SameSite=Lax over HTTP). */
    sessionCookieOptions: CookieSerializeOptions;
  }
}

const DAY = 24 * 60 * 60 * 1000;

/**
 * @fastify/session's store over the sessions table: cookie sessions only, keyed by the token's hash. A session
 * is read with its user in one query; the user waits in `users` for the authentication hook that runs right
 * after (see takeUser), so a request costs one lookup, not two.
 */
class DatabaseSessionStore implements SessionStore {
  private readonly users = new Map<string, UserRow>();

  constructor(private readonly db: Database) {}

  get(sessionId: string, callback: (err: unknown, result?: Session | null) => void): void {
    findSessionWithUser(this.db, sessionId).then(
      (found) => {
        if (found?.session.kind !== 'cookie') return callback(null, null);
        // Taken at once by the hook; the bound only guards against a request that never reached it.
        if (this.users.size > 10_000) this.users.clear();
        this.users.set(sessionId, found.user);
        callback(null, JSON.parse(found.session.data) as Session);
      },
      (err: unknown) => callback(err),
    );
  }

  /** The user read with the session (once), if this request's session was just read. */
  takeUser(sessionId: string): UserRow | undefined {
    const user = this.users.get(sessionId);
    this.users.delete(sessionId);
    return user;
  }

  set(sessionId: string, value: Session, callback: (err?: unknown) => void): void {
    // saveUninitialized is off; a session is only worth storing once it belongs to a user.
    if (!value.userId) return callback();
    saveSession(this.db, sessionId, {
      userId: value.userId,
      kind: 'cookie',
      expiresAt: value.cookie.expires?.getTime() ?? Date.now() + (value.cookie.originalMaxAge ?? DAY),
      data: JSON.stringify(value),
    }).then(() => callback(), callback);
  }

  destroy(sessionId: string, callback: (err?: unknown) => void): void {
    deleteSession(this.db, sessionId).then(() => callback(), callback);
  }
}

function isApi(request: FastifyRequest): boolean {
  return request.url.startsWith('/api/') || request.url === '/api';
}

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
  if (!roles.includes(user.role)) throw new HttpError(403, 'forbidden', `this needs the ${roles.join(' or ')} role`);
  return user;
}

/**
 * The user a write belongs to: the authenticated one, or, on a first write without any session, a new
 * anonymous user with a new session (a cookie, or with `X-Folio-Mode: token` a token in `X-Folio-Token`).
 * A stale session is a 401, never a silent new identity: the client keeps the write for after login.
 */
export async function ensureUser(request: FastifyRequest, reply: FastifyReply): Promise<UserRow> {
  if (request.user) return request.user;
  if (request.credentialStale) throw unauthenticated(request);
  const user = await createAnonymousUser(request.server.db);
  await startSession(request, reply, user, request.headers['x-folio-mode'] === 'token' ? 'token' : 'cookie');
  return user;
}

/**
 * Ends whatever session the request came with and starts a new one for `user` (login, register, anonymous
 * start): a new cookie session id (the old one stops working), or a new bearer token, which is returned.
 */
export async function startSession(request: FastifyRequest, reply: FastifyReply, user: UserRow, mode: 'cookie' | 'token'): Promise<string | undefined> {
  const { db, config } = request.server;
  if (request.credential?.kind === 'token') await deleteSession(db, request.credential.token);
  request.user = user;
  if (mode === 'token') {
    if (request.credential?.kind === 'cookie') await request.session.destroy();
    const token = newToken();
    await saveSession(db, token, { userId: user.id, kind: 'token', expiresAt: Date.now() + config.sessionDays * DAY, data: '{}' });
    request.credential = { kind: 'token', token };
    reply.header('x-folio-token', token);
    return token;
  }
  await request.session.regenerate();
  request.session.set('userId', user.id);
  request.credential = { kind: 'cookie', token: request.session.sessionId };
  return undefined;
}

/** Ends the request's session (logout) and tells the browser to drop the cookie. */
export async function endSession(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (request.credential?.kind === 'token') await deleteSession(request.server.db, request.credential.token);
  else if (request.session?.sessionId) await request.session.destroy();
  request.user = null;
  request.credential = null;
  if (request.cookies[request.server.sessionCookieName] !== undefined) {
    const { expires: _expires, maxAge: _maxAge, ...attributes } = request.server.sessionCookieOptions;
    reply.clearCookie(request.server.sessionCookieName, attributes);
  }
}

/** The stored key of the request's session (to spare it when ending a user's other sessions). */
export function currentSessionKey(request: FastifyRequest): string | undefined {
  return request.credential ? sessionKey(request.credential.token) : undefined;
}

/**
 * Cookie and bearer authentication over database sessions. Decorates each request with `user`,
 * `credential` and `credentialStale`; sessions slide (renewed at most once per 1/30 of their lifetime).
 */
export default fp(
  async function authPlugin(app) {
    const https = servesHttps(app.config);
    const ttl = app.config.sessionDays * DAY;
    const renewEvery = ttl / 30;
    const cookieName = https ? '__Host-folio' : 'folio';
    if (!https) app.log.warn('session cookies are SameSite=Lax without Secure over plain HTTP: book pages on other sites will use token mode; serve HTTPS for cross-site cookies');

    const cookieOptions: CookieSerializeOptions = https
      ? { path: '/', httpOnly: true, secure: true, sameSite: 'none', partitioned: true, maxAge: ttl }
      : { path: '/', httpOnly: true, secure: false, sameSite: 'lax', maxAge: ttl };
    app.decorate('sessionCookieName', cookieName);
    app.decorate('sessionCookieOptions', cookieOptions);
    await app.register(cookie);
    const store = new DatabaseSessionStore(app.db);
    await app.register(session, {
      secret: new RememberingSigner(app.secret),
      cookieName,
      store,
      saveUninitialized: false,
      rolling: false,
      cookie: cookieOptions,
    });

    app.decorateRequest('user', null);
    app.decorateRequest('credential', null);
    app.decorateRequest('credentialStale', false);

    app.addHook('onRequest', async (request) => {
      const read = request.session?.sessionId === undefined ? undefined : store.takeUser(request.session.sessionId);
      if (!isApi(request) || request.method === 'OPTIONS') return;
      const authorization = request.headers.authorization;
      if (authorization !== undefined) {
        const bearer = /^Bearer +([A-Za-z0-9_-]{20,200})$/i.exec(authorization);
        if (!bearer) throw new HttpError(401, 'invalid_authorization', 'the Authorization header must be "Bearer <token>" with a token from login or register');
        const token = bearer[1]!;
        const found = await findSessionWithUser(app.db, token);
        if (found?.session.kind !== 'token') {
          request.credentialStale = true;
          return;
        }
        request.user = found.user;
        request.credential = { kind: 'token', token };
        if (found.session.expiresAt - Date.now() < ttl - renewEvery) await extendSession(app.db, token, Date.now() + ttl);
        return;
      }
      const userId = request.session.get('userId');
      const user = userId ? (read?.id === userId ? read : await findUserById(app.db, userId)) : undefined;
      if (!user) {
        if (request.cookies[cookieName] !== undefined) request.credentialStale = true;
        return;
      }
      request.user = user;
      request.credential = { kind: 'cookie', token: request.session.sessionId };
      // The stored expiry (the in-memory cookie has already been moved to now + max age on restore).
      const expires = (request.session.cookie as { originalExpires?: Date }).originalExpires?.getTime() ?? 0;
      if (expires - Date.now() < ttl - renewEvery) request.session.set('renewedAt', Date.now());
    });

    const sweep = setInterval(() => {
      deleteExpiredSessions(app.db).then(
        (n) => n > 0 && app.log.info({ sessions: n }, 'removed expired sessions'),
        (err: unknown) => app.log.error({ err }, 'could not remove expired sessions'),
      );
    }, Math.min(ttl / 30, 60 * 60 * 1000));
    sweep.unref();
    app.addHook('onClose', async () => clearInterval(sweep));
  },
  {
    name: 'folio-auth',
    fastify: '5.x',
    dependencies: ['folio-config', 'folio-db', 'folio-security'],
    decorators: { fastify: ['config', 'db', 'secret'] },
  },
);
