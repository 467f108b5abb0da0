import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import t from 'tap';
import { buildApp } from '../app.js';
import { createBook } from '../db/books.js';
import type { Config } from '../lib/config.js';
import { bookOrigin, build, fromBook, register, testConfig } from './helper.js';
import { serviceDecision } from './services.js';
import { sql } from 'drizzle-orm';

const redisUrl = process.env.FOLIO_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Why Redis at redisUrl cannot be used, or undefined when it answers a PING. */
async function redisMissing(): Promise<string | undefined> {
  const redis = new Redis(redisUrl, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
    return undefined;
  } catch (err) {
    return `Redis at ${redisUrl} does not answer (${(err as Error).message})`;
  } finally {
    redis.disconnect();
  }
}
const redisNeeded = serviceDecision({
  missing: await redisMissing(),
  tests: 'the Redis rate-limit test',
  enable: 'start redis-server (e.g. redis-server --daemonize yes) or point FOLIO_TEST_REDIS_URL at one',
  requireVar: 'FOLIO_TEST_REQUIRE_REDIS',
});
const login = (app: Awaited<ReturnType<typeof build>>, username: string) =>
  app.inject({ method: 'POST', url: '/api/auth/login', headers: fromBook, payload: { username, password: 'not the password' } });

/** A second Folio on the same database as `app`: another process, as far as counters go. */
async function sameDatabase(t: Parameters<typeof build>[0], config: Config) {
  const other = await buildApp({ config, logger: false });
  t.teardown(() => other.close());
  return other;
}

t.test('login attempts are counted in the database: a second server on it sees the first one\'s', async (t) => {
  const first = await build(t, { loginRatePerUser: 3 });
  const second = await sameDatabase(t, first.config);
  for (const app of [first, second, first]) t.equal((await login(app, 'ada')).statusCode, 401);
  const limited = await login(second, 'ada');
  t.equal(limited.statusCode, 429);
  t.equal(limited.json().error, 'rate_limited');
  t.match(limited.headers['retry-after'], /^\d+$/);
  t.same(await first.db.all(sql`SELECT key, count FROM rate_limits ORDER BY key`), [
    { key: 'auth-account:ada', count: 3 },
    { key: 'auth-ip:127.0.0.1', count: 4 },
    { key: 'auth-user:ada@127.0.0.1', count: 4 },
  ]);
});

t.test('a counter starts again once its window has ended', async (t) => {
  const app = await build(t, { loginRatePerUser: 1 });
  t.equal((await login(app, 'ada')).statusCode, 401);
  t.equal((await login(app, 'ada')).statusCode, 429);
  await app.db.run(sql`UPDATE rate_limits SET reset_at = reset_at - 60000 WHERE key = 'auth-user:ada@127.0.0.1'`);
  t.equal((await login(app, 'ada')).statusCode, 401);
  t.same(await app.db.get(sql`SELECT count FROM rate_limits WHERE key = 'auth-user:ada@127.0.0.1'`), { count: 1 });
});

t.test('with FOLIO_REDIS_URL the counters live in Redis, shared by servers on different databases, and none in the database', 'skip' in redisNeeded ? { skip: redisNeeded.skip } : {}, async (t) => {
  if ('fail' in redisNeeded) throw new Error(redisNeeded.fail);
  const redis = new Redis(redisUrl, { lazyConnect: true });
  await redis.connect();
  t.teardown(() => void redis.quit());
  // A username of this run's own: Redis is shared by every test run on this machine.
  const username = `ada-${randomUUID().slice(0, 8)}`;
  t.teardown(async () => void (await redis.del(`folio-rate-limit:auth-user:${username}@127.0.0.1`, `folio-rate-limit:auth-account:${username}`)));
  const settings = { redisUrl, loginRatePerUser: 2, loginRatePerIp: 100000 };
  const first = await build(t, settings);
  const second = await buildApp({ config: testConfig(t, settings), migrate: true, logger: false });
  t.teardown(() => second.close());
  await createBook(second.db, { id: 'book', title: 'A book', origins: [bookOrigin] });
  await second.books.refresh();
  t.equal((await login(first, username)).statusCode, 401);
  t.equal((await login(second, username)).statusCode, 401);
  t.equal((await login(first, username)).statusCode, 429);
  t.equal(await redis.get(`folio-rate-limit:auth-user:${username}@127.0.0.1`), '3');
  t.same(await first.db.all(sql`SELECT key FROM rate_limits`), []);
});

/** A join attempt with a code no course has, by a user (their session cookie) of `app`. */
const wrongJoin = (app: Awaited<ReturnType<typeof build>>, cookie: string) =>
  app.inject({ method: 'POST', url: '/api/courses/join', headers: { ...fromBook, cookie }, payload: { code: 'NO-SUCH-CODE' } });

t.test('course join attempts are counted in the database: a second server on it sees the first one\'s', async (t) => {
  const first = await build(t, { joinRatePerUser: 2 });
  const second = await sameDatabase(t, first.config);
  const { cookie } = await register(first, 'ada');
  t.equal((await wrongJoin(first, cookie)).statusCode, 404);
  t.equal((await wrongJoin(second, cookie)).statusCode, 404);
  const limited = await wrongJoin(first, cookie);
  t.equal(limited.statusCode, 429);
  t.match(limited.headers['retry-after'], /^\d+$/);
});

t.test('with FOLIO_REDIS_URL course join attempts are counted in Redis, shared by servers, and none in the database', 'skip' in redisNeeded ? { skip: redisNeeded.skip } : {}, async (t) => {
  if ('fail' in redisNeeded) throw new Error(redisNeeded.fail);
  const redis = new Redis(redisUrl, { lazyConnect: true });
  await redis.connect();
  t.teardown(() => void redis.quit());
  const settings = { redisUrl, joinRatePerUser: 2, joinRatePerIp: 100000 };
  const first = await build(t, settings);
  const second = await sameDatabase(t, first.config);
  const { res, cookie } = await register(first, 'ada');
  // The user's id is new to this run: Redis is shared by every test run on this machine.
  const key = `folio-rate-limit:join-user:${res.json().user.id}`;
  t.teardown(async () => void (await redis.del(key)));
  t.equal((await wrongJoin(first, cookie)).statusCode, 404);
  t.equal((await wrongJoin(second, cookie)).statusCode, 404);
  t.equal((await wrongJoin(first, cookie)).statusCode, 429);
  t.equal(await redis.get(key), '3');
  t.same(await first.db.all(sql`SELECT key FROM rate_limits WHERE key LIKE 'join-%'`), []);
});
