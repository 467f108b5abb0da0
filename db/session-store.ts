import type { SessionStore } from '@fastify/session';
import { randomBytes } from 'node:crypto';
import type { Session } from 'fastify';
import type { Database } from './index.js';
import { deleteSession, extendSession, findSessionWithUser, saveSession } from './sessions.js';
import type { UserRow } from './users.js';
import { BoundedMap } from '../lib/cache.js';

/** A live session as the store finds it: its cookie's stored expiry, its user (joined in the same read) and its start. */
export type LiveSession = Session & { userId: string; createdAt: number; user: UserRow };

/** Keys of a session that are not its data: its cookie's expiry, its user and its start are columns of its row. */
const notData = new Set(['cookie', 'user', 'createdAt', 'userId']);

/** What a session holds besides its cookie and user, as the `data` column keeps it (`{}` for Folio's own sessions). */
function dataOf(session: Session): string {
  let data: Record<string, unknown> | undefined;
  for (const key of Object.keys(session)) {
    if (!notData.has(key)) (data ??= {})[key] = (session as unknown as Record<string, unknown>)[key];
  }
  return data === undefined ? '{}' : JSON.stringify(data);
}

const idBytes = 32;
const idsAtOnce = 128;
let idPool = Buffer.alloc(0);
let idOffset = 0;

/**
 * A new session token as newToken makes them (256 random bits, base64url), taken from random bytes drawn 128 ids at
 * a time: @fastify/session makes an id for every request without a session cookie (most never store it), and one
 * `randomBytes` call costs as much as 128 ids' worth of bytes. The package's own generator pools the same way.
 */
export function sessionId(): string {
  if (idOffset === idPool.length) {
    idPool = randomBytes(idBytes * idsAtOnce);
    idOffset = 0;
  }
  return idPool.toString('base64url', idOffset, (idOffset += idBytes));
}

/**
 * @fastify/session's store over the sessions table, and the bearer tokens' too: rows keyed by the SHA-256 of the
 * token, never the token itself (db/sessions.ts), each of a `kind` so that a bearer token never works as a cookie
 * nor a cookie as a bearer token. A session is read with its user in one query, remembered on SQLite until a session
 * or user row changes (findSessionWithUser); one past its expiry or its maximum age (FOLIO_SESSION_MAX_DAYS after
 * login) is no session. The package's `get`, `set` and `destroy` are the cookie sessions; `find`, `create`, `extend`
 * and `destroy` serve the bearer tokens, which the package does not read.
 */
export class DatabaseSessionStore implements SessionStore {
  /**
   * The users of the cookie sessions `get` just gave the package, by session id, until `takeUser` takes them. The
   * session the package holds names its user by id only: the package hashes a session's enumerable data (sorted
   * JSON, SHA-256) when it restores it and again before replying, to see whether it changed, and a whole user row
   * in it made that the costliest part of a request (bench/RESULTS.md). Bounded: a request that never takes its
   * user (one that also sent a bearer token) leaves at most one entry behind.
   */
  private readonly restoredUsers = new BoundedMap<string, UserRow>(1024);

  constructor(
    private readonly db: Database,
    /** The maximum age of a session, in ms from its start. */
    private readonly maxAge: number,
  ) {}

  /** The live session of `token` if it is of `kind`, with its user, or undefined. */
  async find(token: string, kind: 'cookie' | 'token'): Promise<LiveSession | undefined> {
    const found = await findSessionWithUser(this.db, token);
    if (found?.session.kind !== kind || found.session.createdAt + this.maxAge <= Date.now()) return undefined;
    const { session, user } = found;
    const live: LiveSession = { cookie: { expires: new Date(session.expiresAt), originalMaxAge: null }, userId: user.id, createdAt: session.createdAt, user };
    if (session.data === '{}') return live;
    const data = JSON.parse(session.data) as Record<string, unknown>;
    for (const key of notData) delete data[key];
    return { ...data, ...live };
  }

  /** The package's look-up of a cookie session: the session without its user, which waits for `takeUser`. */
  get(sessionId: string, callback: (err: unknown, result?: Session | null) => void): void {
    this.find(sessionId, 'cookie').then(
      (found) => {
        if (!found) return callback(null, null);
        const { user, ...session } = found;
        this.restoredUsers.set(sessionId, user);
        callback(null, session);
      },
      (err: unknown) => callback(err),
    );
  }

  /** The user of the cookie session that `get` restored for `sessionId` (once: it is then forgotten). */
  takeUser(sessionId: string): UserRow | undefined {
    const user = this.restoredUsers.get(sessionId);
    if (user !== undefined) this.restoredUsers.delete(sessionId);
    return user;
  }

  /** Stores a cookie session that has a user (a new one or a renewal); one without is not a session yet (saveUninitialized: false). */
  set(sessionId: string, session: Session, callback: (err?: unknown) => void): void {
    const { userId, cookie } = session;
    if (userId === undefined || !cookie.expires) return callback();
    saveSession(this.db, sessionId, { userId, kind: 'cookie', expiresAt: cookie.expires.getTime(), data: dataOf(session) }).then(() => callback(), callback);
  }

  destroy(sessionId: string, callback: (err?: unknown) => void): void {
    deleteSession(this.db, sessionId).then(() => callback(), callback);
  }

  /** Stores a new bearer token's session. */
  async create(token: string, user: UserRow, expiresAt: number): Promise<void> {
    await saveSession(this.db, token, { userId: user.id, kind: 'token', expiresAt, data: '{}' });
  }

  /** Moves a bearer token's expiry (a sliding session). */
  async extend(token: string, expiresAt: number): Promise<void> {
    await extendSession(this.db, token, expiresAt);
  }

  /** Ends a bearer token's session. */
  async revoke(token: string): Promise<void> {
    await deleteSession(this.db, token);
  }
}
