/// <reference path="../lib/rate-limit-redis-store.d.ts" />
import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import RedisStore from '@fastify/rate-limit/store/RedisStore.js';
import type { Redis } from 'ioredis';
import type { Database } from '../db/index.js';
import { countHit, deleteEndedWindows, readHits } from '../db/rate-limits.js';
import { HttpError } from '../lib/errors.js';

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Counts a password attempt (login, register, password change) against its client, its username from that client
     * and its username from everywhere; throws 429 (with Retry-After) past any of them, and logs it.
     */
    limitAuthAttempt(request: FastifyRequest, username: string): Promise<void>;
    /** Counts a new anonymous student against its client; throws 429 (with Retry-After) past FOLIO_ANONYMOUS_PER_HOUR. */
    limitAnonymousStart(request: FastifyRequest): Promise<void>;
    /**
     * Counts a course join attempt (POST /api/courses/join, before its code is looked up) against its client and its
     * user; throws 429 (with Retry-After) past FOLIO_JOIN_RATE_PER_IP or FOLIO_JOIN_RATE_PER_USER, and logs it.
     */
    limitJoinAttempt(request: FastifyRequest, userId: string): Promise<void>;
    /**
     * Counts a hand-off code redemption (POST /api/auth/handoff, before its code is looked up) against its client;
     * throws 429 (with Retry-After) past FOLIO_LOGIN_RATE_PER_IP a minute, and logs it.
     */
    limitHandoffAttempt(request: FastifyRequest): Promise<void>;
    /**
     * Counts an LTI login initiation (GET|POST /lti/login, which stores a state) against its client; throws 429 (with
     * Retry-After) past FOLIO_LOGIN_RATE_PER_IP a minute, and logs it.
     */
    limitLtiLogin(request: FastifyRequest): Promise<void>;
    /**
     * Counts a sign-in started with an identity provider (its start or link, which store a state) against its client;
     * throws 429 (with Retry-After) past FOLIO_LOGIN_RATE_PER_IP a minute, and logs it.
     */
    limitOidcStart(request: FastifyRequest): Promise<void>;
  }
}

/**
 * Who a request comes from, for per-client limits: its IP as @fastify/rate-limit's own keys have it (IPv4-mapped
 * IPv6 as IPv4, other IPv6 addresses cut to their /64, which one household or one attacker's machine gets whole).
 */
export function clientKey(request: FastifyRequest): string {
  return normalizeIP(request.ip);
}

type Callback = (err: Error | null, result?: { current: number; ttl: number }) => void;

/** The username of each counted attempt, for the key generators (createRateLimit hands them the request only). */
const attemptUsernames = new WeakMap<FastifyRequest, string>();
/** The user of each counted join attempt, likewise. */
const joiningUsers = new WeakMap<FastifyRequest, string>();

function tooMany(message: string, seconds: number): HttpError {
  return new HttpError(429, 'rate_limited', message, { 'retry-after': String(seconds) });
}

/** A @fastify/rate-limit store keeping its counters in Folio's database (table rate_limits). */
function databaseStore(db: Database) {
  return class DatabaseStore {
    incr(key: string, cb: Callback, timeWindow: number): void {
      countHit(db, key, timeWindow).then((r) => cb(null, r), cb);
    }

    read(key: string, cb: Callback): void {
      readHits(db, key).then((r) => cb(null, r), cb);
    }

    child(): DatabaseStore {
      return new DatabaseStore();
    }
  };
}

/**
 * @fastify/rate-limit's Redis store (its Lua script counts atomically), under keys `folio-rate-limit:<key>`: its own
 * child() would put the route's method and URL in every key, which limits made with createRateLimit do not have.
 */
function redisStore(redis: Redis) {
  const store = new RedisStore(false, false, redis, 'folio-rate-limit:');
  return class FolioRedisStore {
    incr: RedisStore['incr'] = (key, cb, timeWindow, max) => store.incr(key, cb, timeWindow, max);
    read: RedisStore['read'] = (key, cb, timeWindow, max) => store.read(key, cb, timeWindow, max);
    child(): FolioRedisStore {
      return this;
    }
  };
}

/**
 * Rate limits for guessing passwords and join codes, counted where every Folio process sees them: in Redis when
 * FOLIO_REDIS_URL is set, else in the database (one upsert per attempt — only password attempts, course join
 * attempts and new anonymous students are limited). Per-IP limits are generous because a classroom shares one address.
 */
export default fp(
  async function rateLimitPlugin(app) {
    const { redisUrl } = app.config;
    if (redisUrl) {
      // Loaded only when used: ioredis is a good part of start-up otherwise.
      const { Redis } = await import('ioredis');
      const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2, enableOfflineQueue: true });
      await redis.connect();
      app.addHook('onClose', async () => void (await redis.quit()));
      await app.register(rateLimit, { global: false, store: redisStore(redis) as never });
    } else {
      await app.register(rateLimit, { global: false, store: databaseStore(app.db) as never });
      const sweep = setInterval(() => {
        deleteEndedWindows(app.db).catch((err: unknown) => app.log.error({ err }, 'could not remove ended rate-limit windows'));
      }, 10 * 60_000);
      sweep.unref();
      app.addHook('onClose', async () => clearInterval(sweep));
    }
    const minute = 60_000;
    // A username's attempts are counted per client, so guesses from elsewhere cannot lock its owner out; the per-account
    // ceiling (higher, and only reached through many clients, each stopped at its own limit first) bounds guessing
    // from a whole IPv6 /48 or a botnet. A request refused by one limit counts against none after it.
    const username = (request: FastifyRequest) => attemptUsernames.get(request) ?? '';
    const limits = [
      { name: 'client', limit: app.createRateLimit({ max: app.config.loginRatePerIp, timeWindow: minute, keyGenerator: (request) => `auth-ip:${clientKey(request)}` }) },
      {
        name: 'username_client',
        limit: app.createRateLimit({ max: app.config.loginRatePerUser, timeWindow: minute, keyGenerator: (request) => `auth-user:${username(request)}@${clientKey(request)}` }),
      },
      { name: 'username', limit: app.createRateLimit({ max: app.config.loginRatePerAccount, timeWindow: minute, keyGenerator: (request) => `auth-account:${username(request)}` }) },
    ];

    app.decorate('limitAuthAttempt', async (request: FastifyRequest, name: string) => {
      attemptUsernames.set(request, name.toLowerCase());
      for (const { name: limit, limit: count } of limits) {
        const result = await count(request);
        if (result.isAllowed || !result.isExceeded) continue;
        request.log.warn({ event: 'login_throttled', username: name, client: request.ip, limit }, 'password attempts throttled');
        throw tooMany(`too many attempts: try again in ${result.ttlInSeconds} s`, result.ttlInSeconds);
      }
    });

    // Every join attempt counts, the right codes too, and before the lookup: counted atomically by the store, so
    // guesses sent at once cannot slip past the limit, and a refused attempt learns nothing of any course. A lecture
    // hall joining from one slide shares one address: FOLIO_JOIN_RATE_PER_IP is generous for that (README, .env.example).
    const joinLimits = [
      { name: 'client', limit: app.createRateLimit({ max: app.config.joinRatePerIp, timeWindow: minute, keyGenerator: (request) => `join-ip:${clientKey(request)}` }) },
      { name: 'user', limit: app.createRateLimit({ max: app.config.joinRatePerUser, timeWindow: minute, keyGenerator: (request) => `join-user:${joiningUsers.get(request) ?? ''}` }) },
    ];
    app.decorate('limitJoinAttempt', async (request: FastifyRequest, userId: string) => {
      joiningUsers.set(request, userId);
      for (const { name: limit, limit: count } of joinLimits) {
        const result = await count(request);
        if (result.isAllowed || !result.isExceeded) continue;
        request.log.warn({ event: 'join_throttled', userId, client: request.ip, limit }, 'course join attempts throttled');
        throw tooMany(`too many attempts at joining a course: try again in ${result.ttlInSeconds} s`, result.ttlInSeconds);
      }
    });

    // Every redemption counts, before the lookup, like a join attempt; a class arriving from its LMS at once shares one
    // address, so the allowance is the login one per client (FOLIO_LOGIN_RATE_PER_IP). A code is 256 random bits: the
    // limit bounds the load of guessing, not its (nil) chance.
    const handoffs = app.createRateLimit({ max: app.config.loginRatePerIp, timeWindow: minute, keyGenerator: (request) => `handoff-ip:${clientKey(request)}` });
    app.decorate('limitHandoffAttempt', async (request: FastifyRequest) => {
      const result = await handoffs(request);
      if (result.isAllowed || !result.isExceeded) return;
      request.log.warn({ event: 'handoff_throttled', client: request.ip }, 'hand-off code redemptions throttled');
      throw tooMany(`too many hand-off attempts from your network: try again in ${result.ttlInSeconds} s`, result.ttlInSeconds);
    });

    // Each login initiation stores a state for 5 minutes: bounded per client like a hand-off (a class launching at once shares one address).
    const ltiLogins = app.createRateLimit({ max: app.config.loginRatePerIp, timeWindow: minute, keyGenerator: (request) => `lti-login-ip:${clientKey(request)}` });
    app.decorate('limitLtiLogin', async (request: FastifyRequest) => {
      const result = await ltiLogins(request);
      if (result.isAllowed || !result.isExceeded) return;
      request.log.warn({ event: 'lti_login_throttled', client: request.ip }, 'LTI login initiations throttled');
      throw tooMany(`too many LTI logins from your network: try again in ${result.ttlInSeconds} s`, result.ttlInSeconds);
    });

    // Each sign-in with an identity provider stores a state for 10 minutes: bounded per client like an LTI login.
    const oidcStarts = app.createRateLimit({ max: app.config.loginRatePerIp, timeWindow: minute, keyGenerator: (request) => `oidc-start-ip:${clientKey(request)}` });
    app.decorate('limitOidcStart', async (request: FastifyRequest) => {
      const result = await oidcStarts(request);
      if (result.isAllowed || !result.isExceeded) return;
      request.log.warn({ event: 'oidc_start_throttled', client: request.ip }, 'sign-ins with an identity provider throttled');
      throw tooMany(`too many sign-ins from your network: try again in ${result.ttlInSeconds} s`, result.ttlInSeconds);
    });

    const anonymous = app.createRateLimit({ max: app.config.anonymousPerHour, timeWindow: 60 * minute, keyGenerator: (request) => `anon-ip:${clientKey(request)}` });
    app.decorate('limitAnonymousStart', async (request: FastifyRequest) => {
      const result = await anonymous(request);
      if (result.isAllowed || !result.isExceeded) return;
      request.log.warn({ event: 'anonymous_throttled', client: request.ip }, 'new anonymous students throttled');
      throw tooMany(`too many new anonymous sessions from your network: log in, or try again in ${result.ttlInSeconds} s`, result.ttlInSeconds);
    });
  },
  { name: 'folio-rate-limit', fastify: '5.x', dependencies: ['folio-config', 'folio-db', 'folio-cors'], decorators: { fastify: ['config', 'db'] } },
);
