/// <reference path="../lib/rate-limit-redis-store.d.ts" />
import rateLimit from '@fastify/rate-limit';
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import RedisStore from '@fastify/rate-limit/store/RedisStore.js';
import { Redis } from 'ioredis';
import type { Database } from '../db/index.js';
import { countHit, deleteEndedWindows, readHits } from '../db/rate-limits.js';
import { HttpError } from '../lib/errors.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Counts a login or register attempt against its IP and its username; throws 429 (with Retry-After) past either limit. */
    limitAuthAttempt(request: FastifyRequest, username: string): Promise<void>;
  }
}

type Callback = (err: Error | null, result?: { current: number; ttl: number }) => void;

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
 * Rate limits for guessing passwords, counted where every Folio process sees them: in Redis when
 * FOLIO_REDIS_URL is set, else in the database (one upsert per attempt — only logins and registrations are
 * limited). Per-IP limits are generous because a classroom shares one address.
 */
export default fp(
  async function rateLimitPlugin(app) {
    const { redisUrl } = app.config;
    if (redisUrl) {
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
    const perIp = app.createRateLimit({ max: app.config.loginRatePerIp, timeWindow: 60_000, keyGenerator: (request) => `auth-ip:${request.ip}` });
    const perUser = app.createRateLimit({
      max: app.config.loginRatePerUser,
      timeWindow: 60_000,
      keyGenerator: (request) => `auth-user:${String((request.body as { username?: unknown } | undefined)?.username ?? '').toLowerCase()}`,
    });

    app.decorate('limitAuthAttempt', async (request: FastifyRequest) => {
      for (const limit of [perIp, perUser]) {
        const result = await limit(request);
        if (result.isAllowed || !result.isExceeded) continue;
        throw new HttpError(429, 'rate_limited', `too many attempts: try again in ${result.ttlInSeconds} s`, { 'retry-after': String(result.ttlInSeconds) });
      }
    });
  },
  { name: 'folio-rate-limit', fastify: '5.x', dependencies: ['folio-config', 'folio-db', 'folio-cors'], decorators: { fastify: ['config', 'db'] } },
);
