import type { SessionStore } from '@fastify/session';
import { randomBytes } from 'node:crypto';
import type { Session } from 'fastify';
import type { Database } from './index.js';
import { deleteSession, extendSession, findSessionWithUser, saveSession } from './sessions.js';
import type { UserRow } from './users.js';

/** A live session as the store gives it: its cookie's stored expiry, its user (joined in the same read) and its start. */
export type LiveSession = Session & { user: UserRow; createdAt: number };

/** Keys of a session that are not its data: the cookie and the user are stored in columns; earlier versions kept `userId` in it. */
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
    const live: LiveSession = { cookie: { expires: new Date(session.expiresAt), originalMaxAge: null }, user, createdAt: session.createdAt };
    if (session.data === '{}') return live;
    const data = JSON.parse(session.data) as Record<string, unknown>;
    for (const key of notData) delete data[key];
    return { ...data, ...live };
  }

  get(sessionId: string, callback: (err: unknown, result?: Session | null) => void): void {
    this.find(sessionId, 'cookie').then(
      (session) => callback(null, session ?? null),
      (err: unknown) => callback(err),
    );
  }

  /** Stores a cookie session that has a user (a new one or a renewal); one without is not a session yet (saveUninitialized: false). */
  set(sessionId: string, session: Session, callback: (err?: unknown) => void): void {
    const { user, cookie } = session as Partial<LiveSession> & Session;
    if (!user || !cookie.expires) return callback();
    saveSession(this.db, sessionId, { userId: user.id, kind: 'cookie', expiresAt: cookie.expires.getTime(), data: dataOf(session) }).then(() => callback(), callback);
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
