import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { createHash } from 'node:crypto';
import t from 'tap';
import { bookOrigin, build, register, tableNames } from './helper.js';
import { sql } from 'drizzle-orm';

/** A digest of every row of every table: equal digests, untouched data. */
async function checksum(app: FastifyInstance): Promise<string> {
  const hash = createHash('sha256');
  for (const table of await tableNames(app.db)) {
    const rows = (await app.db.all(sql`SELECT * FROM "${sql.raw(table)}"`)).map((row) => JSON.stringify(row)).sort();
    hash.update(table).update(JSON.stringify(rows));
  }
  return hash.digest('hex');
}

const badIds = [
  'a'.repeat(129),
  'a'.repeat(5000),
  '..%2F..%2Fetc%2Fpasswd',
  '..',
  '%00',
  '%E0%A4%A',
  '%',
  'ä',
  '<script>',
  ' ',
  'q1%0D%0ASet-Cookie:%20x=1',
  encodeURIComponent('{"$gt":""}'),
];
const id = fc.oneof(fc.constantFrom('ac1', 'q1', 'ch1', ...badIds), fc.string({ maxLength: 300 }).map(encodeURIComponent));

const contentTypes = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'application/jsonx',
  'application/vnd.api+json',
  '',
  'application/json, text/plain',
);

const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
const bodies: fc.Arbitrary<string | Buffer | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.json({ maxDepth: 4 }),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify({ code: v, kind: v, answer: v, events: v, username: v, password: v, page: v })),
  fc.constantFrom('mchoice', 'fitb', 'parsons', 'dragndrop', 'clickablearea', 'shortanswer', 'unittest', 'poll', 'codelens', 'essay').chain((kind) =>
    fc.jsonValue({ maxDepth: 3 }).map((answer) => JSON.stringify({ kind, answer })),
  ),
  fc.integer({ min: 1000, max: 100_000 }).map(deep),
  fc.integer({ min: 10_000, max: 300_000 }).map((n) => JSON.stringify({ code: 'x'.repeat(n) })),
  fc.uint8Array({ maxLength: 2000 }).map((bytes) => Buffer.from(bytes)),
  fc.constant(Buffer.from([0x7b, 0x22, 0x63, 0x6f, 0x64, 0x65, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0xff, 0x22, 0x7d])), // {"code":"<invalid UTF-8>"}
  fc.constantFrom('', 'null', '[]', '{', '{"__proto__":{"admin":true}}', '{"constructor":{"prototype":{"x":1}}}', '1e999999'),
  // Numbers at and past every range (PostgreSQL's INTEGER, dates JavaScript can show), and free JSON nested too deep.
  fc
    .record({ n: fc.oneof(fc.double(), fc.integer(), fc.constantFrom(9e15, 1e20, -1, 2 ** 31, 2 ** 53, 8.64e15 + 1, 1e308)), deep: fc.integer({ min: 0, max: 6000 }) })
    .map(({ n, deep: depth }) =>
      JSON.stringify({ events: [{ type: 't', clientTime: n }], page: 'ch1', scroll: n, kind: 'unittest', answer: { passed: n, failed: 0 }, score: n, code: 'x' }).replace(
        '"type":"t"',
        `"type":"t","data":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`,
      ),
    ),
);

t.test('2,500 malformed requests across every route: never a 5xx, always a JSON error, stored data unchanged unless 2xx', async (t) => {
  const app = await build(t, { loginRatePerIp: 100_000, loginRatePerUser: 100_000 });
  const { cookie } = await register(app, 'fuzzer');
  // Some stored work, so that a wrongly accepted write would show in the checksum.
  await app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers: { origin: bookOrigin, cookie }, payload: { code: 'kept', page: 'ch1' } });
  const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json() as { paths: Record<string, Record<string, unknown>> };
  const templates = Object.keys(doc.paths).filter((p) => p.startsWith('/api'));
  t.ok(templates.length >= 13, `${templates.length} API paths`);

  const request = fc.record({
    method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'),
    template: fc.constantFrom(...templates),
    book: fc.oneof(fc.constant('book'), fc.constant('other'), id),
    param: id,
    query: fc.oneof(fc.constant(''), fc.constantFrom('?page=ch1', '?page=', '?limit=-1', '?limit=1e9&before=x', '?page[]=a&page[]=b', '?__proto__[x]=1', '?before=3000000000', '?before=1e20', '?limit=2147483648&before=-1'), fc.string({ maxLength: 100 }).map((s) => `?${s}`)),
    contentType: contentTypes,
    body: bodies,
    withCookie: fc.boolean(),
    authorization: fc.oneof(fc.constant(undefined), fc.string({ maxLength: 60 }).map((s) => `Bearer ${s}`), fc.constant('Bearer ' + 'A'.repeat(43))),
    origin: fc.constantFrom(bookOrigin, 'https://evil.example', 'null', '', undefined),
    fetchMode: fc.constantFrom(undefined, 'navigate', 'cors', 'no-cors'),
  });

  let before = await checksum(app);
  let served = 0;
  await fc.assert(
    fc.asyncProperty(request, async (r) => {
      const url = r.template.replace('{book}', r.book).replace(/\{(activity|question)\}/, r.param) + r.query;
      const headers: Record<string, string> = {};
      if (r.contentType && r.body !== undefined) headers['content-type'] = r.contentType;
      if (r.withCookie) headers.cookie = cookie;
      if (r.authorization) headers.authorization = r.authorization;
      if (r.origin !== undefined) headers.origin = r.origin;
      if (r.fetchMode) {
        headers['sec-fetch-mode'] = r.fetchMode;
        headers['sec-fetch-site'] = 'cross-site';
      }
      const res = await app.inject({ method: r.method as 'GET', url, headers, ...(r.body !== undefined && r.method !== 'GET' && r.method !== 'HEAD' ? { payload: r.body } : {}) });
      served++;
      if (res.statusCode >= 500) throw new Error(`${r.method} ${url.slice(0, 200)} → ${res.statusCode} ${res.body.slice(0, 300)}`);
      if (res.statusCode >= 400 && r.method !== 'HEAD') {
        const body = res.json() as { statusCode: unknown; error: unknown; message: unknown };
        if (body.statusCode !== res.statusCode || typeof body.error !== 'string' || typeof body.message !== 'string') throw new Error(`not the error shape: ${res.body}`);
      }
      const after = await checksum(app);
      if (res.statusCode >= 300 && after !== before) throw new Error(`${r.method} ${url.slice(0, 200)} → ${res.statusCode} changed stored data`);
      before = after;
    }),
    { numRuns: 2500, seed: Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31) },
  );
  t.equal(served, 2500);
  t.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200, 'the process is alive and still serves');
  t.same((await app.db.get(sql`SELECT code FROM programs WHERE activity = 'ac1' AND version = 1`)), { code: 'kept' }, 'earlier work is intact');
});
