/**
 * The browser client's outbox and retries, in Node with a fake clock, fake storage and a network in front of the
 * real app: a write is kept in localStorage until a 2xx, retried with backoff when the network or the server fails,
 * and sent once, in order.
 */
import t from 'tap';
import { splitEvents, type EventRecord } from '../client/events.js';
import { retryDelay } from '../client/sync.js';
import { FakeBrowser, server } from './client-fakes.js';
import { build } from './helper.js';
import { sql } from 'drizzle-orm';

/** The code of every saved version of `activity`, oldest first, whoever saved it. */
async function savedCode(app: Awaited<ReturnType<typeof build>>, activity = 'ac1'): Promise<string[]> {
  return ((await app.db.all(sql`SELECT code FROM programs WHERE activity = ${activity} ORDER BY id`)) as { code: string }[]).map((r) => r.code);
}

t.test('retryDelay doubles from the first wait up to the maximum, with jitter down to half', async (t) => {
  t.strictSame([0, 1, 2, 3, 4, 5, 6, 7, 8].map((n) => retryDelay(n, 1000, 60_000, 1)), [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
  t.strictSame([0, 1, 6].map((n) => retryDelay(n, 1000, 60_000, 0)), [500, 1000, 30000]);
  t.equal(retryDelay(2, 1000, 60_000, 0.5), 3000);
});

t.test('a write is in localStorage, keyed by server, book and user, while it is sent, and gone after the 2xx', async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  const { folio } = browser.open(t);
  const keptDuringSend: string[][] = [];
  const fetch = browser.network.fetch;
  browser.network.fetch = async (input, init) => {
    if (init?.method === 'PUT') keptDuringSend.push(browser.outboxKeys());
    return fetch(input, init);
  };
  const result = await folio.saveProgram('ac1', 'print(1)', { page: 'ch1' });
  t.match(result, { status: 'saved', reply: { version: 1, savedAt: /^2\d{3}-/ } });
  t.equal(keptDuringSend.length, 1);
  t.match(keptDuringSend[0], [new RegExp(`^folio\\|outbox\\|${server.replace(/\./g, '\\.')}\\|book\\|anon\\|[0-9a-z]{9}\\.[0-9a-z]{4}\\.`)]);
  t.equal(keptDuringSend[0]?.length, 1);
  t.strictSame(browser.outboxKeys(), []);
  t.strictSame(await savedCode(app), ['print(1)']);
});

t.test('offline, a write resolves as pending, stays kept, and is retried 1 s, 2 s, 4 s … up to 60 s apart', async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  const { folio, events } = browser.open(t);
  browser.network.offline = true;
  t.strictSame(await folio.saveProgram('ac1', 'print(1)'), { status: 'pending', reason: 'offline' });
  t.equal(folio.pendingWrites, 1);
  t.equal(browser.outboxKeys().length, 1);
  const waits: number[] = [];
  for (let i = 0; i < 8; i++) {
    const [wait = -1] = browser.clock.waiting;
    waits.push(wait);
    await browser.clock.advance(wait);
  }
  t.strictSame(waits, [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
  t.match(events.sync.at(-1), { type: 'retrying', reason: 'offline', pending: 1, retryInMs: 60000 });
  t.equal(folio.pendingWrites, 1, 'still kept');
  t.strictSame(await savedCode(app), []);
});

t.test('coming back online sends kept writes at once, without waiting out the backoff', async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  const { folio, events } = browser.open(t);
  browser.network.offline = true;
  await folio.saveProgram('ac1', 'print(1)');
  await browser.clock.advance(1000);
  await browser.clock.advance(2000);
  t.strictSame(browser.clock.waiting, [4000]);
  browser.network.offline = false;
  browser.window.dispatchEvent(new Event('online'));
  await folio.flush();
  t.strictSame(await savedCode(app), ['print(1)']);
  t.equal(folio.pendingWrites, 0);
  t.strictSame(browser.clock.waiting, [], 'no retry left scheduled');
  t.strictSame(events.sync.at(-1), { type: 'saved', pending: 0 });
});

t.test('a 5xx is retried and the write reaches the server once', async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  const { folio, events } = browser.open(t);
  await folio.me();
  browser.network.faults.push({ status: 503 }, { status: 502 });
  t.strictSame(await folio.saveProgram('ac1', 'print(1)'), { status: 'pending', reason: 'server_error' });
  await browser.clock.advance(1000);
  t.strictSame(await savedCode(app), []);
  await browser.clock.advance(2000);
  t.strictSame(await savedCode(app), ['print(1)']);
  t.strictSame(
    events.sync.map((e) => e.type),
    ['saving', 'retrying', 'saving', 'retrying', 'saving', 'saved'],
  );
  t.strictSame(
    browser.network.seen.filter((r) => r.method === 'PUT').map((r) => r.status),
    [503, 502, 200],
  );
});

t.test('a request without an answer within timeoutMs is abandoned and retried', async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  const { folio, events } = browser.open(t, { timeoutMs: 5000 });
  await folio.me();
  browser.network.faults.push('hang');
  const result = folio.saveProgram('ac1', 'print(1)');
  await browser.idle();
  t.strictSame(browser.clock.waiting, [5000], 'the timeout');
  await browser.clock.advance(5000);
  t.strictSame(await result, { status: 'pending', reason: 'timeout' });
  t.match(events.sync.at(-1), { type: 'retrying', reason: 'timeout', retryInMs: 1000 });
  await browser.clock.advance(1000);
  t.strictSame(await savedCode(app), ['print(1)']);
});

t.test('a 429 waits at least as long as Retry-After says', async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  const { folio, events } = browser.open(t);
  await folio.me();
  browser.network.faults.push({ status: 429, headers: { 'retry-after': '7' } });
  t.strictSame(await folio.saveProgram('ac1', 'print(1)'), { status: 'pending', reason: 'rate_limited' });
  t.match(events.sync.at(-1), { type: 'retrying', reason: 'rate_limited', retryInMs: 7000 });
  t.strictSame(browser.clock.waiting, [7000]);
});

t.test('writes kept offline are sent in the order they were made', async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  const { folio } = browser.open(t);
  browser.network.offline = true;
  for (const code of ['v1', 'v2', 'v3']) await folio.saveProgram('ac1', code);
  t.strictSame(await folio.submitAnswer('q1', { kind: 'mchoice', answer: ['b'] }), { status: 'pending', reason: 'offline' });
  browser.network.offline = false;
  const online = browser.network.seen.length;
  browser.window.dispatchEvent(new Event('online'));
  await browser.idle();
  t.strictSame(await savedCode(app), ['v1', 'v2', 'v3']);
  t.strictSame(
    browser.network.seen.slice(online).map((r) => `${r.method} ${r.path} ${r.status}`),
    [
      'GET /api/auth/me 401', // no session yet
      'PUT /api/books/book/programs/ac1 200', // starts an anonymous session …
      'GET /api/auth/me 200', // … whose cookie the browser kept
      'PUT /api/books/book/programs/ac1 200',
      'PUT /api/books/book/programs/ac1 200',
      'POST /api/books/book/answers/q1 201',
    ],
  );
});

t.test('a page read while a kept write is being sent shows that write, even when the reply was read before it landed', async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  const { folio } = browser.open(t);
  await folio.saveProgram('ac1', 'v1', { page: 'ch1' });
  browser.network.offline = true;
  await folio.saveProgram('ac1', 'v2', { page: 'ch1' });
  browser.network.offline = false;
  // The worst order a real network allows: the server reads the state before a PUT sent at the same time lands,
  // and the reply to the GET arrives after the PUT's (so the write has left the outbox by then).
  let put: Promise<unknown> | undefined;
  const fetch = browser.network.fetch;
  browser.network.fetch = async (input, init) => {
    if (init?.method === 'PUT') return (put = fetch(input, init));
    if (!String(input).includes('/state?')) return fetch(input, init);
    const reply = await fetch(input, init);
    for (let turn = 0; turn < 20 && !put; turn++) await new Promise((resolve) => setImmediate(resolve));
    if (put) await put.then(() => new Promise((resolve) => setImmediate(resolve)));
    return reply;
  };
  void folio.flush();
  const state = await folio.pageState('ch1');
  await folio.flush();
  t.equal(state.programs.ac1?.code, 'v2');
  t.equal(folio.pendingWrites, 0);
  t.strictSame(await savedCode(app), ['v1', 'v2']);
});

t.test('a page read while another tab sends a kept write is made again, and shows that write', async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  const reader = browser.open(t).folio;
  const other = browser.open(t).folio;
  await reader.saveProgram('ac1', 'v1', { page: 'ch1' });
  browser.network.offline = true;
  await reader.saveProgram('ac1', 'v2', { page: 'ch1' });
  browser.network.offline = false;
  // The server reads the state before the other tab's send of v2 lands; the reply arrives after it.
  let states = 0;
  const fetch = browser.network.fetch;
  browser.network.fetch = async (input, init) => {
    if (!String(input).includes('/state?')) return fetch(input, init);
    const reply = await fetch(input, init);
    if (++states === 1) await other.flush();
    return reply;
  };
  const state = await reader.pageState('ch1');
  t.equal(state.programs.ac1?.code, 'v2');
  t.equal(state.programs.ac1?.pending, undefined, 'from the server');
  t.equal(states, 2, 'read again once');
  t.strictSame(await savedCode(app), ['v1', 'v2']);
});

t.test('while a retry is scheduled, a new write joins the queue instead of sending at once', async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  const { folio } = browser.open(t);
  browser.network.offline = true;
  await folio.saveProgram('ac1', 'v1');
  const tries = browser.network.seen.length;
  t.strictSame(await folio.saveProgram('ac1', 'v2'), { status: 'pending', reason: 'offline' });
  t.equal(browser.network.seen.length, tries, 'no request');
  t.equal(folio.pendingWrites, 2);
});

t.test('a write the server refuses for good (400) rejects with the server\'s error and is not kept', async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  const { folio, events } = browser.open(t);
  await t.rejects(folio.submitAnswer('q1', { kind: 'mchoice', answer: 'b' }), { name: 'FolioError', statusCode: 400, error: 'invalid_request', message: 'body/answer must be array' });
  t.equal(folio.pendingWrites, 0);
  t.match(events.sync.at(-1), { type: 'rejected', pending: 0, write: { kind: 'answer', target: 'q1' }, error: { statusCode: 400, error: 'invalid_request' } });
});

t.test('a kept write refused when it is finally sent is dropped with a "rejected" event; the writes after it still go', async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  const { folio, events } = browser.open(t);
  await folio.me();
  browser.network.offline = true;
  const refused = folio.submitAnswer('q1', { kind: 'mchoice', answer: 'b' });
  const saved = folio.saveProgram('ac1', 'print(1)');
  t.strictSame(await refused, { status: 'pending', reason: 'offline' }, 'a write\'s promise settles at its first outcome');
  t.strictSame(await saved, { status: 'pending', reason: 'offline' });
  browser.network.offline = false;
  events.sync.length = 0;
  await folio.flush();
  t.strictSame(events.sync, [
    { type: 'saving', pending: 2 },
    { type: 'rejected', pending: 1, write: { kind: 'answer', target: 'q1' }, error: { statusCode: 400, error: 'invalid_request', message: 'body/answer must be array' } },
    { type: 'saved', pending: 0 },
  ]);
  t.strictSame(await savedCode(app), ['print(1)']);
  t.equal(folio.pendingWrites, 0);
});

t.test('writes kept by an earlier page are sent when the next page starts', async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  const first = browser.open(t);
  browser.network.offline = true;
  await first.folio.saveProgram('ac1', 'print(1)');
  first.folio.close();
  browser.network.offline = false;
  const { folio, events } = browser.open(t);
  t.equal(folio.pendingWrites, 1);
  await browser.clock.advance(0);
  t.strictSame(await savedCode(app), ['print(1)']);
  t.strictSame(events.sync.at(-1), { type: 'saved', pending: 0 });
});

t.test('only the newest kept position is sent', async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  const { folio } = browser.open(t);
  browser.network.offline = true;
  await folio.setPosition('ch1', 10);
  await folio.setPosition('ch2', 20);
  t.equal(folio.pendingWrites, 1);
  browser.network.offline = false;
  await folio.flush();
  t.strictSame(browser.network.seen.filter((r) => r.path === '/api/books/book/position' && r.status === 200).map((r) => r.body), [{ page: 'ch2', scroll: 20 }]);
  t.match(await folio.position(), { page: 'ch2', scroll: 20 });
});

function event(i: number, data?: unknown): EventRecord {
  return { type: 'run', target: 'ac1', clientTime: 1_800_000_000_000 + i, ...(data === undefined ? {} : { data }) };
}

t.test('splitEvents makes batches of at most 500 events and at most the byte limit', async (t) => {
  t.strictSame(splitEvents(Array.from({ length: 1201 }, (_, i) => event(i))).map((b) => b.length), [500, 500, 201]);
  const big = 'x'.repeat(10_000);
  const batches = splitEvents(Array.from({ length: 13 }, (_, i) => event(i, big)), 60 * 1024);
  t.strictSame(batches.map((b) => b.length), [6, 6, 1]);
  for (const batch of batches) t.ok(Buffer.byteLength(JSON.stringify({ events: batch })) <= 60 * 1024);
});

t.test('events are sent in one request when maxBatch are waiting', async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  const { folio } = browser.open(t, { events: { maxBatch: 3, flushMs: 5000 } });
  folio.log('run', { target: 'ac1' });
  folio.log('run', { target: 'ac1', data: { ms: 12 } });
  t.equal(browser.network.seen.length, 0, 'nothing sent for two events');
  folio.log('hint', { page: 'ch1' });
  await folio.flush();
  const posts = browser.network.seen.filter((r) => r.path === '/api/books/book/events');
  t.equal(posts.length, 1);
  t.strictSame(posts[0]?.body, {
    events: [
      { type: 'run', target: 'ac1', clientTime: browser.clock.now() },
      { type: 'run', target: 'ac1', data: { ms: 12 }, clientTime: browser.clock.now() },
      { type: 'hint', page: 'ch1', clientTime: browser.clock.now() },
    ],
  });
  t.equal(((await app.db.get(sql`SELECT count(*) AS n FROM events`)) as { n: number }).n, 3);
});

t.test('events are sent flushMs after the first one even when fewer are waiting', async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  const { folio } = browser.open(t, { events: { maxBatch: 50, flushMs: 5000 } });
  folio.log('run');
  await browser.clock.advance(4999);
  t.equal(browser.network.seen.length, 0);
  await browser.clock.advance(1);
  t.equal(browser.network.seen.filter((r) => r.path === '/api/books/book/events' && r.status === 202).length, 1);
});

t.test('when the page is hidden, waiting events go out with keepalive and credentials', async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  const { folio } = browser.open(t);
  await folio.me();
  folio.log('run', { target: 'ac1' });
  browser.document.visibilityState = 'hidden';
  browser.document.dispatchEvent(new Event('visibilitychange'));
  await browser.idle();
  t.match(browser.network.seen.at(-1), { method: 'POST', path: '/api/books/book/events', keepalive: true, credentials: 'include', status: 202 });
  t.equal(folio.pendingWrites, 0);
});

t.test('pagehide sends at most 60 KiB of events with keepalive; the rest stay kept for later', async (t) => {
  const app = await build(t);
  const browser = new FakeBrowser(app);
  const { folio } = browser.open(t, { events: { maxBatch: 1, flushMs: 5000 } });
  await folio.me();
  browser.network.offline = true;
  for (let i = 0; i < 10; i++) folio.log('run', { data: 'x'.repeat(10_000) });
  await browser.idle();
  t.equal(folio.pendingWrites, 10);
  browser.network.offline = false;
  const before = browser.network.seen.length;
  browser.window.dispatchEvent(new Event('pagehide'));
  await browser.idle();
  const sent = browser.network.seen.slice(before);
  t.equal(sent.length, 6, 'six batches of about 10 KB fit in 60 KiB');
  t.ok(sent.every((r) => r.keepalive && r.status === 202));
  t.equal(folio.pendingWrites, 4);
});

t.test('log refuses what the server would refuse, before batching it', async (t) => {
  const app = await build(t);
  const { folio } = new FakeBrowser(app).open(t);
  t.throws(() => folio.log('has space'), { name: 'TypeError', message: /event type must be 1-64 characters/ });
  t.throws(() => folio.log('run', { target: 'a b' }), { name: 'TypeError', message: /target must be 1-128 characters/ });
  t.throws(() => folio.log('run', { data: 'x'.repeat(16 * 1024) }), { name: 'TypeError', message: /at most 16 KiB/ });
});
