import { request as httpRequest } from 'node:http';
import t from 'tap';
import { addBookOrigin, removeBookOrigin } from '../db/books.js';
import { bookOrigin, build, corsHeaders, folio, otherBookOrigin, recordQueries } from './helper.js';

const allowedReply = {
  'access-control-allow-origin': bookOrigin,
  'access-control-allow-credentials': 'true',
  'access-control-expose-headers': 'retry-after, x-folio-token, x-folio-export-users, x-folio-excluded-users, x-folio-export-until',
};

const preflightHeaders = {
  'access-control-request-method': 'PUT',
  'access-control-request-headers': 'content-type, authorization',
};

t.test('a request without Origin gets no Access-Control-* header', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/api/books/book' });
  t.equal(res.statusCode, 200);
  t.same(corsHeaders(res.headers), {});
  t.equal(res.headers.vary, 'Origin');
});

t.test('an allowed Origin gets exactly that origin and credentials, never *', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/api/books/book', headers: { origin: bookOrigin } });
  t.equal(res.statusCode, 200);
  t.same(res.json(), { id: 'book', title: 'A book' });
  t.same(corsHeaders(res.headers), allowedReply);
  t.equal(res.headers.vary, 'Origin');
});

const disallowed: [string, string][] = [
  ['http instead of https', 'http://book.example'],
  ['another port', 'https://book.example:8443'],
  ['a suffix domain', 'https://book.example.evil.com'],
  ['a prefix domain', 'https://xbook.example'],
  ['an empty Origin', ''],
  ['the null origin', 'null'],
  ['a trailing slash', 'https://book.example/'],
  ['upper case', 'https://BOOK.example'],
  ['a wildcard', '*'],
];

for (const [what, origin] of disallowed) {
  t.test(`an Origin with ${what} (${JSON.stringify(origin)}) gets no Access-Control-Allow-* header`, async (t) => {
    const app = await build(t);
    const res = await app.inject({ method: 'GET', url: '/api/books/book', headers: { origin } });
    t.equal(res.statusCode, 200);
    t.same(corsHeaders(res.headers), {});
    t.equal(res.headers.vary, 'Origin');
  });
}

t.test('a request with two Origin headers is disallowed', async (t) => {
  const app = await build(t);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/api/books/book', method: 'GET' }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.headers));
    });
    req.setHeader('origin', [bookOrigin, bookOrigin]);
    req.on('error', reject);
    req.end();
  });
  t.same(corsHeaders(headers), {});
  t.equal(headers.vary, 'Origin');
});

t.test("a book's origin is not allowed on another book's paths", async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/api/books/other', headers: { origin: bookOrigin } });
  t.equal(res.statusCode, 200);
  t.same(corsHeaders(res.headers), {});
});

t.test('non-book API paths allow the union of all books\' origins', async (t) => {
  const app = await build(t);
  for (const origin of [bookOrigin, otherBookOrigin]) {
    const res = await app.inject({ method: 'OPTIONS', url: '/api/auth/login', headers: { origin, 'access-control-request-method': 'POST' } });
    t.equal(res.statusCode, 204, origin);
    t.equal(res.headers['access-control-allow-origin'], origin);
  }
  const stranger = await app.inject({ method: 'OPTIONS', url: '/api/auth/login', headers: { origin: 'https://stranger.example', 'access-control-request-method': 'POST' } });
  t.equal(stranger.statusCode, 404);
  t.same(corsHeaders(stranger.headers), {});
});

t.test('paths outside /api get no CORS headers, even for an allowed origin', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/healthz', headers: { origin: bookOrigin } });
  t.equal(res.statusCode, 200);
  t.same(corsHeaders(res.headers), {});
});

t.test('a preflight from an allowed origin is answered 204 with every preflight header', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'OPTIONS', url: '/api/books/book/programs/ac1', headers: { origin: bookOrigin, ...preflightHeaders } });
  t.equal(res.statusCode, 204);
  t.equal(res.body, '');
  t.same(corsHeaders(res.headers), {
    ...allowedReply,
    'access-control-allow-methods': 'GET, POST, PUT, PATCH, DELETE',
    'access-control-allow-headers': 'content-type, authorization, x-folio-mode',
    'access-control-max-age': '600',
  });
  t.equal(res.headers.vary, 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers');
});

t.test("one origin's preflights, requests and OPTIONS without a requested method are answered each their own way, in any order", async (t) => {
  const app = await build(t);
  const url = '/api/books/book';
  for (let round = 0; round < 2; round++) {
    const preflight = await app.inject({ method: 'OPTIONS', url, headers: { origin: bookOrigin, 'access-control-request-method': 'GET' } });
    t.equal(preflight.statusCode, 204);
    t.equal(preflight.headers['access-control-allow-methods'], 'GET, POST, PUT, PATCH, DELETE');
    const get = await app.inject({ method: 'GET', url, headers: { origin: bookOrigin } });
    t.equal(get.statusCode, 200);
    t.same(corsHeaders(get.headers), allowedReply);
    const bare = await app.inject({ method: 'OPTIONS', url, headers: { origin: bookOrigin } });
    t.equal(bare.statusCode, 404, 'an OPTIONS without Access-Control-Request-Method is no preflight');
  }
});

t.test('a preflight runs no handler: an existing GET route answers it with an empty 204', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'OPTIONS', url: '/api/books/book', headers: { origin: bookOrigin, 'access-control-request-method': 'GET' } });
  t.equal(res.statusCode, 204);
  t.equal(res.body, '');
  t.equal(res.headers['content-type'], undefined);
});

t.test('the preflight max age is configurable', async (t) => {
  const app = await build(t, { corsMaxAge: 42 });
  const res = await app.inject({ method: 'OPTIONS', url: '/api/books/book', headers: { origin: bookOrigin, ...preflightHeaders } });
  t.equal(res.headers['access-control-max-age'], '42');
});

t.test('a preflight from a disallowed origin gets no Access-Control-Allow-* header and no 5xx', async (t) => {
  const app = await build(t);
  for (const origin of ['https://evil.example', otherBookOrigin, 'null']) {
    const res = await app.inject({ method: 'OPTIONS', url: '/api/books/book/programs/ac1', headers: { origin, ...preflightHeaders } });
    t.equal(res.statusCode, 404, origin);
    t.same(corsHeaders(res.headers), {}, origin);
    t.equal(res.headers.vary, 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers');
    t.equal(res.json().error, 'not_found');
  }
});

t.test('a preflight for an unknown book is refused like a disallowed origin', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'OPTIONS', url: '/api/books/nope/state', headers: { origin: bookOrigin, ...preflightHeaders } });
  t.equal(res.statusCode, 404);
  t.same(corsHeaders(res.headers), {});
});

t.test('error replies to an allowed origin carry the CORS headers', async (t) => {
  const app = await build(t);
  const cases = [
    { status: 404, url: '/api/books/book/no-such-route', method: 'GET' as const },
    { status: 403, url: '/api/books/book', method: 'GET' as const, headers: { 'sec-fetch-mode': 'navigate', 'sec-fetch-site': 'cross-site' } },
  ];
  for (const c of cases) {
    const res = await app.inject({ method: c.method, url: c.url, headers: { origin: bookOrigin, ...(c.headers ?? {}) } });
    t.equal(res.statusCode, c.status, `${c.method} ${c.url}`);
    t.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    t.same(corsHeaders(res.headers), allowedReply, `${c.status} carries CORS`);
    t.equal(res.headers.vary, 'Origin');
  }
});

t.test('an invalid book id is a 400 that names the problem, with CORS headers', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/api/books/Not_A_Slug!', headers: { origin: bookOrigin } });
  t.equal(res.statusCode, 400);
  t.equal(res.json().error, 'invalid_request');
  t.match(res.json().message, /params\/book/);
});

t.test('an origin added or removed in the database takes effect without a restart', async (t) => {
  const app = await build(t, { originRefreshMs: 50 });
  const ask = () => app.inject({ method: 'GET', url: '/api/books/book', headers: { origin: 'https://new.example' } });
  t.equal((await ask()).headers['access-control-allow-origin'], undefined);
  await addBookOrigin(app.db, 'book', 'https://new.example');
  await new Promise((r) => setTimeout(r, 150));
  t.equal((await ask()).headers['access-control-allow-origin'], 'https://new.example');
  await removeBookOrigin(app.db, 'book', 'https://new.example');
  await new Promise((r) => setTimeout(r, 150));
  t.equal((await ask()).headers['access-control-allow-origin'], undefined);
});

t.test('an origin added by the CLI in another process is allowed within one second', async (t) => {
  const app = await build(t);
  const ask = () => app.inject({ method: 'GET', url: '/api/books/book', headers: { origin: 'https://cli.example' } });
  t.equal((await ask()).headers['access-control-allow-origin'], undefined);
  const cli = await folio(['books', 'origins', 'add', 'book', 'https://cli.example'], { FOLIO_DATABASE_URL: app.config.databaseUrl });
  t.equal(cli.code, 0, cli.stderr);
  const added = Date.now();
  let allowedAfter = Infinity;
  while (Date.now() - added < 1500) {
    if ((await ask()).headers['access-control-allow-origin'] === 'https://cli.example') {
      allowedAfter = Date.now() - added;
      break;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  t.ok(allowedAfter <= 1000, `allowed after ${allowedAfter} ms`);
});

t.test('CORS decisions make no database query per request', async (t) => {
  const app = await build(t);
  const queries = recordQueries(t, app);
  for (let i = 0; i < 20; i++) {
    const res = await app.inject({ method: 'OPTIONS', url: '/api/books/book/state', headers: { origin: bookOrigin, ...preflightHeaders } });
    t.equal(res.statusCode, 204);
  }
  t.equal(queries.length, 0);
});
