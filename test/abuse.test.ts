import type { FastifyInstance } from 'fastify';
import { setImmediate as nextTurn } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { buildApp } from '../app.js';
import { createBook } from '../db/books.js';
import { newToken, saveSession } from '../db/sessions.js';
import { createAccount, createAnonymousUser, workTables } from '../db/users.js';
import { PasswordWork } from '../lib/passwords.js';
import { sweepSessions } from '../plugins/auth.js';
import { loadConfig, type Config } from '../lib/config.js';
import { bookOrigin, build, cookieOf, fromBook, migratedDatabaseUrl, register, tableNames, testConfig } from './helper.js';
import { sql } from 'drizzle-orm';

const password = 'correct horse battery';
const DAY = 86400_000;

/** The app with its log captured: every JSON line it writes, and those with an `event` field. */
async function buildLogged(t: Test, overrides: Partial<Config> = {}) {
  const lines: string[] = [];
  const app = await buildApp({
    config: testConfig(t, { ...overrides, databaseUrl: overrides.databaseUrl ?? (await migratedDatabaseUrl(t)) }),
    migrate: true,
    logger: { level: 'info', stream: { write: (line: string) => void lines.push(line) } },
  });
  t.teardown(() => app.close());
  await createBook(app.db, { id: 'book', title: 'A book', origins: [bookOrigin] });
  await app.books.refresh();
  const events = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.event !== undefined);
  return { app, lines, events };
}

/** Each line matches its pattern, and there are as many lines as patterns. */
function matchEach(t: Test, lines: Record<string, unknown>[], patterns: Record<string, unknown>[]): void {
  t.equal(lines.length, patterns.length, JSON.stringify(lines));
  patterns.forEach((pattern, i) => t.match(lines[i], pattern));
}

const login = (app: FastifyInstance, username: string, pass: string, extra: { remoteAddress?: string; headers?: Record<string, string> } = {}) =>
  app.inject({ method: 'POST', url: '/api/auth/login', headers: { ...fromBook, ...extra.headers }, payload: { username, password: pass }, ...(extra.remoteAddress ? { remoteAddress: extra.remoteAddress } : {}) });

const changePassword = (app: FastifyInstance, cookie: string, currentPassword: string) =>
  app.inject({ method: 'PATCH', url: '/api/auth/me', headers: { ...fromBook, cookie }, payload: { currentPassword, newPassword: 'a brand new password' } });

const rateLimitRows = async (app: FastifyInstance) => app.db.all<{ key: string; count: number }>(sql`SELECT key, count FROM rate_limits ORDER BY key`);

t.test('wrong current passwords in PATCH /api/auth/me count as login attempts: past the limit a 429 with Retry-After, even for the right one', async (t) => {
  const app = await build(t, { loginRatePerUser: 4 });
  const { cookie } = await register(app); // counted once
  for (let i = 0; i < 3; i++) {
    const wrong = await changePassword(app, cookie, `guess number ${i}`);
    t.equal(wrong.statusCode, 403);
    t.equal(wrong.json().error, 'wrong_password');
  }
  for (const guess of ['guess number 4', password]) {
    const limited = await changePassword(app, cookie, guess);
    t.equal(limited.statusCode, 429, guess);
    t.same(limited.json(), { statusCode: 429, error: 'rate_limited', message: limited.json().message });
    t.match(limited.headers['retry-after'], /^\d+$/);
  }
  t.same(await rateLimitRows(app), [
    { key: 'auth-account:ada', count: 4 },
    { key: 'auth-ip:127.0.0.1', count: 6 },
    { key: 'auth-user:ada@127.0.0.1', count: 6 },
  ]);
  const { password_hash: stored } = (await app.db.get<{ password_hash: string }>(sql`SELECT password_hash FROM users`))!;
  t.equal(await app.passwords.verify(password, stored), true, 'the password was not changed');
});

t.test('password changes are counted per client IP too', async (t) => {
  const app = await build(t, { loginRatePerIp: 2 });
  const { cookie } = await register(app, 'ada', {}, {});
  t.equal((await changePassword(app, cookie, 'not the password')).statusCode, 403);
  t.equal((await changePassword(app, cookie, 'not the password')).statusCode, 429);
});

t.test('password work: at most `concurrency` at once, `queueLength` waiting in order, the next refused at once', async (t) => {
  const work = new PasswordWork(2, 2, (seconds) => Object.assign(new Error('busy'), { seconds }));
  const started: number[] = [];
  const releases: (() => void)[] = [];
  const job = (n: number) => work.run(() => new Promise<number>((resolve) => (started.push(n), releases.push(() => resolve(n)))));
  const jobs = [job(1), job(2), job(3), job(4)];
  await nextTurn();
  t.same(started, [1, 2]);
  t.equal(work.running, 2);
  t.equal(work.waiting, 2);
  await t.rejects(job(5), { message: 'busy', seconds: 1 });
  releases[0]!();
  t.equal(await jobs[0], 1);
  await nextTurn();
  t.same(started, [1, 2, 3], 'the first in line took the freed place');
  t.equal(work.running, 2);
  t.equal(work.waiting, 1);
  for (const release of releases.slice(1)) release();
  await nextTurn();
  releases[3]!();
  t.same(await Promise.all(jobs), [1, 2, 3, 4]);
  t.equal(work.running, 0);
  t.equal(work.waiting, 0);
});

t.test('with one password hash at a time and one waiting, the next login is refused with 503 server_busy and Retry-After', async (t) => {
  const app = await build(t, { passwordConcurrency: 1, passwordQueue: 1 });
  await register(app);
  let release!: () => void;
  // The one place is taken (as by a long hash) until the test lets it go.
  const held = app.passwords.run(() => new Promise<void>((resolve) => (release = resolve)));
  const waiting = login(app, 'ada', password);
  while (app.passwords.waiting < 1) await nextTurn();
  const refused = await Promise.all([login(app, 'ada', password), login(app, 'bob', 'wrong password')]);
  for (const res of refused) {
    t.equal(res.statusCode, 503);
    t.same(res.json(), { statusCode: 503, error: 'server_busy', message: res.json().message });
    t.match(res.json().message, /^too many passwords are being checked at once: try again in \d+ s$/);
    t.match(res.headers['retry-after'], /^[1-9]\d*$/);
    t.equal(res.headers['access-control-allow-origin'], bookOrigin);
  }
  release();
  await held;
  t.equal((await waiting).statusCode, 200, 'the queued login went through');
  t.equal((await login(app, 'ada', password)).statusCode, 200, 'and the next one too');
});

t.test('FOLIO_TRUST_PROXY=1: a forged left-most X-Forwarded-For does not change the client the limiter counts', async (t) => {
  const app = await build(t, { trustProxy: loadConfig({ FOLIO_TRUST_PROXY: '1' }).trustProxy, loginRatePerIp: 3 });
  // The proxy appends the address it saw; whatever the client wrote stays to its left.
  for (const forged of ['1.1.1.1', '2.2.2.2', '3.3.3.3']) {
    t.equal((await login(app, `user${forged}`, 'wrong password', { headers: { 'x-forwarded-for': `${forged}, 203.0.113.7` } })).statusCode, 401);
  }
  const limited = await login(app, 'someone', 'wrong password', { headers: { 'x-forwarded-for': '4.4.4.4, 203.0.113.7' } });
  t.equal(limited.statusCode, 429);
  t.same(
    (await rateLimitRows(app)).filter((r) => r.key.startsWith('auth-ip:')),
    [{ key: 'auth-ip:203.0.113.7', count: 4 }],
  );
  const another = await login(app, 'someone', 'wrong password', { headers: { 'x-forwarded-for': '203.0.113.8' } });
  t.equal(another.statusCode, 401, 'another client behind the proxy has its own count');
});

t.test('FOLIO_TRUST_PROXY as addresses: only a listed peer\'s X-Forwarded-For is believed', async (t) => {
  const app = await build(t, { trustProxy: loadConfig({ FOLIO_TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' }).trustProxy });
  await login(app, 'a', 'wrong password', { headers: { 'x-forwarded-for': '6.6.6.6, 203.0.113.7, 10.1.2.3' } });
  await login(app, 'b', 'wrong password', { remoteAddress: '198.51.100.9', headers: { 'x-forwarded-for': '203.0.113.7' } });
  t.same(
    (await rateLimitRows(app)).filter((r) => r.key.startsWith('auth-ip:')),
    [
      { key: 'auth-ip:198.51.100.9', count: 1 },
      { key: 'auth-ip:203.0.113.7', count: 1 },
    ],
    'through the proxies: the first address they did not add; from elsewhere: the peer itself',
  );
});

t.test('a hop count with Folio listening beyond loopback is warned about in the log', async (t) => {
  const open = await buildLogged(t, { trustProxy: 1, host: '0.0.0.0' });
  matchEach(t, open.events(), [{ level: 40, event: 'trust_proxy_hops', host: '0.0.0.0', hops: 1 }]);
  const local = await buildLogged(t, { trustProxy: 1 });
  t.same(local.events(), []);
});

t.test('per-IP limits count an IPv6 /64 as one client', async (t) => {
  const app = await build(t, { loginRatePerIp: 2 });
  t.equal((await login(app, 'a', 'wrong password', { remoteAddress: '2001:db8:1:2::1' })).statusCode, 401);
  t.equal((await login(app, 'b', 'wrong password', { remoteAddress: '2001:db8:1:2:aaaa:bbbb:cccc:dddd' })).statusCode, 401);
  t.equal((await login(app, 'c', 'wrong password', { remoteAddress: '2001:db8:1:2::ffff' })).statusCode, 429);
  t.equal((await login(app, 'd', 'wrong password', { remoteAddress: '2001:db8:1:3::1' })).statusCode, 401, 'the next /64 is another client');
  t.same(
    (await rateLimitRows(app)).filter((r) => r.key.startsWith('auth-ip:')),
    [
      { key: 'auth-ip:2001:db8:1:2::', count: 3 },
      { key: 'auth-ip:2001:db8:1:3::', count: 1 },
    ],
  );
  const anonymous = await build(t, { anonymousPerHour: 1 });
  const save = (remoteAddress: string) =>
    anonymous.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers: fromBook, payload: { code: 'x' }, remoteAddress });
  t.equal((await save('2001:db8:5:6::1')).statusCode, 200);
  t.equal((await save('2001:db8:5:6::2')).statusCode, 429, 'new anonymous students too');
});

t.test('guesses from elsewhere cannot lock a student out: the right password from their own address still works', async (t) => {
  const app = await build(t);
  const student = '198.51.100.7';
  const attacker = '203.0.113.66';
  t.equal((await register(app, 'ada', {}, {})).res.statusCode, 201);
  const replies = [];
  for (let i = 0; i < 12; i++) replies.push((await login(app, 'ada', `guess ${i} of many`, { remoteAddress: attacker })).statusCode);
  t.same(replies, [...Array(10).fill(401), 429, 429], 'the attacker is stopped after 10');
  t.equal((await login(app, 'ada', password, { remoteAddress: attacker })).statusCode, 429, 'even with the right password');
  const mine = await login(app, 'ada', password, { remoteAddress: student });
  t.equal(mine.statusCode, 200);
  t.equal(mine.json().user.username, 'ada');
});

t.test('a ceiling per username over all clients caps guessing from many addresses', async (t) => {
  const app = await build(t, { loginRatePerUser: 2, loginRatePerAccount: 5 });
  const replies = [];
  for (let i = 1; i <= 7; i++) replies.push((await login(app, 'ada', 'wrong password', { remoteAddress: `203.0.113.${i}` })).statusCode);
  t.same(replies, [401, 401, 401, 401, 401, 429, 429]);
  t.equal((await login(app, 'bob', 'wrong password', { remoteAddress: '203.0.113.9' })).statusCode, 401, 'other usernames are not limited');
  t.same((await rateLimitRows(app)).find((r) => r.key === 'auth-account:ada'), { key: 'auth-account:ada', count: 7 });
});

t.test('new anonymous students are limited per client: past FOLIO_ANONYMOUS_PER_HOUR a first save is a 429 with Retry-After', async (t) => {
  const app = await build(t, { anonymousPerHour: 3 });
  const save = (headers: Record<string, string> = {}, remoteAddress = '192.0.2.10') =>
    app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers: { ...fromBook, ...headers }, payload: { code: 'x' }, remoteAddress });
  for (let i = 0; i < 3; i++) t.equal((await save()).statusCode, 200);
  const limited = await save();
  t.equal(limited.statusCode, 429);
  t.same(limited.json(), { statusCode: 429, error: 'rate_limited', message: limited.json().message });
  t.match(limited.json().message, /^too many new anonymous sessions from your network: log in, or try again in \d+ s$/);
  t.ok(Number(limited.headers['retry-after']) > 0 && Number(limited.headers['retry-after']) <= 3600, String(limited.headers['retry-after']));
  t.equal(limited.headers['set-cookie'], undefined);
  t.equal((await save({}, '192.0.2.11')).statusCode, 200, 'another client may');
  const { cookie } = await register(app, 'ada', {}, {});
  t.equal((await save({ cookie }, '192.0.2.10')).statusCode, 200, 'a logged-in student is not counted');
  t.same(await app.db.all(sql`SELECT anonymous, count(*) AS n FROM users GROUP BY anonymous ORDER BY anonymous`), [
    { anonymous: 0, n: 1 },
    { anonymous: 1, n: 4 },
  ]);
});

t.test('the work tables are every table with a user_id but bookkeeping (sessions, user_usage, grid_summaries) and memberships (courses, links, LMS and provider accounts, scores, sign-ins, experiments)', async (t) => {
  const app = await build(t);
  const withUser: string[] = [];
  for (const table of await tableNames(app.db)) {
    const columns =
      app.db.dialect === 'sqlite'
        ? await app.db.all<{ name: string }>(sql`SELECT name FROM pragma_table_info(${table})`)
        : await app.db.all<{ name: string }>(sql`SELECT column_name AS name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ${table}`);
    if (columns.some((c) => c.name === 'user_id') && !['sessions', 'user_usage', 'enrolments', 'course_staff', 'password_links', 'handoff_codes', 'lti_users', 'lti_scores', 'oidc_identities', 'oidc_states', 'grid_summaries', 'experiment_assignments'].includes(table)) withUser.push(table);
  }
  t.same(withUser.sort(), [...workTables].sort());
});

t.test('the sweep removes exactly the anonymous students who saved nothing and were idle, with their sessions, and logs how many', async (t) => {
  const { app, events } = await buildLogged(t, { anonymousIdleDays: 2, sessionDays: 30 });
  const now = Date.now();
  const ago = (days: number) => now - days * DAY;
  const users: Record<string, string> = {};
  const anonymousWith = async (name: string, session: { createdAt: number; expiresAt: number } | null, createdAt = ago(3)) => {
    const user = await createAnonymousUser(app.db);
    users[name] = user.id;
    await app.db.run(sql`UPDATE users SET created_at = ${createdAt}, updated_at = ${createdAt} WHERE id = ${user.id}`);
    if (session) {
      await saveSession(app.db, newToken(), { userId: user.id, kind: 'cookie', expiresAt: session.expiresAt, data: '{}' });
      await app.db.run(sql`UPDATE sessions SET created_at = ${session.createdAt} WHERE user_id = ${user.id}`);
    }
    return user.id;
  };
  // Idle: made 4 days ago, session not renewed since (its expiry is its creation + 30 days), or no session at all.
  await anonymousWith('idle', { createdAt: ago(4), expiresAt: ago(4) + 30 * DAY }, ago(4));
  await anonymousWith('idleNoSession', null);
  await anonymousWith('idleExpired', { createdAt: ago(40), expiresAt: ago(10) }, ago(40));
  // Kept: used since (a renewal moved the expiry), a session made since, made recently.
  await anonymousWith('renewedToday', { createdAt: ago(3), expiresAt: now + 30 * DAY });
  await anonymousWith('newSession', { createdAt: ago(1), expiresAt: ago(1) + 30 * DAY });
  await anonymousWith('recent', { createdAt: ago(1), expiresAt: ago(1) + 30 * DAY }, ago(1));
  // Kept: anonymous students with work, in each work table, idle or not.
  const work: Record<string, (cookie: string) => Promise<{ statusCode: number }>> = {
    programs: (cookie) => app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers: { ...fromBook, cookie }, payload: { code: 'x' } }),
    answers: (cookie) => app.inject({ method: 'POST', url: '/api/books/book/answers/q1', headers: { ...fromBook, cookie }, payload: { kind: 'mchoice', answer: ['b'] } }),
    events: (cookie) => app.inject({ method: 'POST', url: '/api/books/book/events', headers: { ...fromBook, cookie }, payload: { events: [{ type: 'run' }] } }),
    positions: (cookie) => app.inject({ method: 'PUT', url: '/api/books/book/position', headers: { ...fromBook, cookie }, payload: { page: 'p1' } }),
    page_completions: (cookie) => app.inject({ method: 'PUT', url: '/api/books/book/pages/complete', headers: { ...fromBook, cookie }, payload: { page: 'p1', complete: true } }),
  };
  t.same(Object.keys(work).sort(), [...workTables].sort());
  for (const [table, save] of Object.entries(work)) {
    const first = await app.inject({ method: 'PUT', url: '/api/books/book/pages/complete', headers: fromBook, payload: { page: 'p0', complete: false } });
    t.equal(first.statusCode, 200, 'an anonymous student with nothing saved');
    const cookie = cookieOf(first);
    t.equal((await save(cookie)).statusCode < 300, true, table);
    const { id } = (await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie } })).json().user;
    users[`with ${table}`] = id;
    await app.db.run(sql`UPDATE users SET created_at = ${ago(3)}, updated_at = ${ago(3)} WHERE id = ${id}`);
    await app.db.run(sql`UPDATE sessions SET created_at = ${ago(3)}, expires_at = ${ago(3) + 30 * DAY} WHERE user_id = ${id}`);
    const rows = await app.db.get<{ n: number }>(sql`SELECT count(*) AS n FROM ${sql.raw(table)} WHERE user_id = ${id}`);
    t.equal(Number(rows!.n), 1, `a row in ${table} only`);
  }
  // Kept: an account that saved nothing.
  const account = await createAccount(app.db, { username: 'ada', passwordHash: 'x' });
  await app.db.run(sql`UPDATE users SET created_at = ${ago(30)}, updated_at = ${ago(30)} WHERE id = ${account.id}`);
  users.account = account.id;

  await sweepSessions(app, now);
  const left = (await app.db.all<{ id: string }>(sql`SELECT id FROM users`)).map((r) => r.id);
  const kept = Object.entries(users).filter(([, id]) => left.includes(id)).map(([name]) => name).sort();
  t.same(kept, ['account', 'newSession', 'recent', 'renewedToday', ...workTables.map((w) => `with ${w}`)].sort());
  t.same(await app.db.all(sql`SELECT user_id FROM sessions WHERE user_id IN (${users.idle}, ${users.idleNoSession}, ${users.idleExpired})`), [], 'their sessions went too');
  matchEach(t, events().filter((e) => e.event === 'anonymous_purged'), [{ level: 30, event: 'anonymous_purged', users: 3, idleDays: 2 }]);
  await sweepSessions(app, now);
  t.equal(events().filter((e) => e.event === 'anonymous_purged').length, 1, 'nothing more to purge, nothing logged');
});

t.test('security events are structured log lines: failed and throttled logins, password changes; no password is ever logged', async (t) => {
  const { app, lines, events } = await buildLogged(t, { loginRatePerUser: 3, anonymousPerHour: 1 });
  const { cookie } = await register(app);
  const userId = (await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie } })).json().user.id;
  await login(app, 'ada', 'wrong password 1', { remoteAddress: '203.0.113.5' });
  await login(app, 'nobody', 'wrong password 2', { remoteAddress: '203.0.113.5' });
  t.equal((await changePassword(app, cookie, 'wrong password 3')).statusCode, 403);
  t.equal((await changePassword(app, cookie, password)).statusCode, 200);
  for (let i = 0; i < 4; i++) await login(app, 'bob', `wrong password ${4 + i}`, { remoteAddress: '203.0.113.6' });
  const save = () => app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers: fromBook, payload: { code: 'x' }, remoteAddress: '192.0.2.1' });
  await save();
  t.equal((await save()).statusCode, 429);
  matchEach(t, events(), [
    { level: 40, event: 'login_failed', username: 'ada', client: '203.0.113.5' },
    { level: 40, event: 'login_failed', username: 'nobody', client: '203.0.113.5' },
    { level: 40, event: 'password_check_failed', purpose: 'password change', userId, username: 'ada', client: '127.0.0.1' },
    { level: 30, event: 'password_changed', userId, username: 'ada', client: '127.0.0.1', sessionsEnded: 0 },
    { level: 40, event: 'login_failed', username: 'bob', client: '203.0.113.6' },
    { level: 40, event: 'login_failed', username: 'bob', client: '203.0.113.6' },
    { level: 40, event: 'login_failed', username: 'bob', client: '203.0.113.6' },
    { level: 40, event: 'login_throttled', username: 'bob', client: '203.0.113.6', limit: 'username_client' },
    { level: 40, event: 'anonymous_throttled', client: '192.0.2.1' },
  ]);
  for (const secret of [password, 'a brand new password', 'wrong password']) t.notOk(lines.some((line) => line.includes(secret)), `"${secret}" is not in the log`);
});

t.test('a session older than FOLIO_SESSION_MAX_DAYS is expired however recently it was used', async (t) => {
  const app = await build(t, { sessionDays: 30, sessionMaxDays: 3 });
  const { cookie } = await register(app);
  const me = () => app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie } });
  t.equal((await me()).statusCode, 200);
  const row = (await app.db.get<{ created_at: number; expires_at: number }>(sql`SELECT created_at, expires_at FROM sessions`))!;
  t.ok(Math.abs(Number(row.expires_at) - Number(row.created_at) - 3 * DAY) < 60_000, 'a new session expires at its maximum age when that comes first');
  // Used every day, as a renewal would have it: the expiry is ahead, the login three days ago.
  await app.db.run(sql`UPDATE sessions SET created_at = ${Date.now() - 3 * DAY - 60_000}, expires_at = ${Date.now() + 29 * DAY}`);
  const expired = await me();
  t.equal(expired.statusCode, 401);
  t.same(expired.json(), { statusCode: 401, error: 'session_expired', message: 'your session has ended: log in again (nothing from this request was saved)' });
  const { deleteExpiredSessions } = await import('../db/sessions.js');
  t.equal(await deleteExpiredSessions(app.db, Date.now(), Date.now() - 3 * DAY), 1, 'the sweep removes it');
});

t.test('the sliding renewal never pushes a session past its login + FOLIO_SESSION_MAX_DAYS, and stops writing there', async (t) => {
  const app = await build(t, { sessionDays: 30, sessionMaxDays: 40 });
  const { cookie } = await register(app);
  const createdAt = Date.now() - 20 * DAY;
  await app.db.run(sql`UPDATE sessions SET created_at = ${createdAt}, expires_at = ${Date.now() + 10 * DAY}`);
  const first = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie } });
  t.equal(first.statusCode, 200);
  const { expires_at: expiresAt } = (await app.db.get<{ expires_at: number }>(sql`SELECT expires_at FROM sessions`))!;
  t.equal(Number(expiresAt), createdAt + 40 * DAY, 'renewed to the maximum, not to 30 days from now');
  t.match(first.headers['set-cookie'], new RegExp(`; Expires=${new Date(createdAt + 40 * DAY).toUTCString()};`));
  const second = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie } });
  t.equal(second.statusCode, 200);
  t.equal(second.headers['set-cookie'], undefined, 'nothing left to renew');
});
