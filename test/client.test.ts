/**
 * Folio serves the built browser client (npm test builds it first) at /client/folio.js to any site: an ES module
 * with no dependencies, loadable cross-origin, cacheable with a validator (@fastify/static's, from the file's size
 * and modification time).
 */
import type { FastifyInstance } from 'fastify';
import { cp, mkdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t, { type Test } from 'tap';
import { buildApp } from '../app.js';
import { bookOrigin, build, corsHeaders, root, testConfig } from './helper.js';

const built = join(root, 'dist/client');

/** The app serving the client from `dir` (in the test's folder) instead of dist/client. */
async function buildServing(t: Test, dir: string): Promise<FastifyInstance> {
  // The configuration first: on SQLite it makes the test's folder (t.testdir() empties it).
  const config = testConfig(t);
  const app = await buildApp({ config, migrate: true, logger: false, clientDir: join(t.testdirName, dir) });
  t.teardown(() => app.close());
  return app;
}

/** The app serving a copy of the built client whose files were last changed at 2026-01-01 (as by an earlier build), and the copy's folder. */
async function buildServingCopy(t: Test): Promise<{ app: FastifyInstance; dir: string }> {
  const app = await buildServing(t, 'client');
  const dir = join(t.testdirName, 'client');
  await mkdir(dir, { recursive: true });
  await cp(built, dir, { recursive: true });
  const earlier = new Date('2026-01-01T00:00:00Z');
  for (const name of ['folio.js', 'folio.js.map', 'folio.d.ts']) await utimes(join(dir, name), earlier, earlier);
  return { app, dir };
}

t.test('GET /client/folio.js serves the built module as JavaScript that any site may load', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/client/folio.js' });
  const file = await stat(join(built, 'folio.js'));
  t.equal(res.statusCode, 200);
  t.equal(res.headers['content-type'], 'text/javascript; charset=utf-8');
  t.equal(res.headers['cross-origin-resource-policy'], 'cross-origin');
  t.equal(res.headers['cache-control'], 'public, max-age=300');
  t.equal(res.headers.etag, `W/"${file.size.toString(16)}-${file.mtime.getTime().toString(16)}"`, 'a weak ETag of size and mtime');
  t.equal(res.headers['last-modified'], file.mtime.toUTCString());
  t.equal(res.body, await readFile(join(built, 'folio.js'), 'utf8'));
});

t.test('the module is self-contained and exports Folio and FolioError', async (t) => {
  const text = await readFile(join(built, 'folio.js'), 'utf8');
  t.notMatch(text, /(^|[;\s])import\s*[\w{*]|\bimport\(|\brequire\(/, 'imports nothing');
  const module = (await import(pathToFileURL(join(built, 'folio.js')).href)) as Record<string, unknown>;
  t.equal(typeof module.Folio, 'function');
  t.equal(typeof module.FolioError, 'function');
  t.equal(module.default, module.Folio);
});

t.test('a request with If-None-Match of the current ETag gets a 304 without a body', async (t) => {
  const app = await build(t);
  const first = await app.inject({ method: 'GET', url: '/client/folio.js' });
  const etag = String(first.headers.etag);
  const again = await app.inject({ method: 'GET', url: '/client/folio.js', headers: { 'if-none-match': `W/"stale", ${etag}` } });
  t.equal(again.statusCode, 304);
  t.equal(again.body, '');
  t.equal(again.headers.etag, etag);
  t.equal(again.headers['cache-control'], 'public, max-age=300');
  t.equal(again.headers['cross-origin-resource-policy'], 'cross-origin');
  t.equal(again.headers['content-type'], undefined);
  const stale = await app.inject({ method: 'GET', url: '/client/folio.js', headers: { 'if-none-match': 'W/"stale"' } });
  t.equal(stale.statusCode, 200);
  t.equal(stale.headers.etag, etag);
});

t.test('a request with If-Modified-Since of the Last-Modified date gets a 304; of an earlier date, the file', async (t) => {
  const app = await build(t);
  const first = await app.inject({ method: 'GET', url: '/client/folio.js' });
  const lastModified = String(first.headers['last-modified']);
  const again = await app.inject({ method: 'GET', url: '/client/folio.js', headers: { 'if-modified-since': lastModified } });
  t.equal(again.statusCode, 304);
  t.equal(again.body, '');
  const earlier = new Date(Date.parse(lastModified) - 1000).toUTCString();
  const stale = await app.inject({ method: 'GET', url: '/client/folio.js', headers: { 'if-modified-since': earlier } });
  t.equal(stale.statusCode, 200);
  t.equal(stale.body, first.body);
});

t.test('a rebuilt file gets a new ETag and Last-Modified, and is served anew to a browser holding the old ones', async (t) => {
  const { app, dir } = await buildServingCopy(t);
  const old = await app.inject({ method: 'GET', url: '/client/folio.js' });
  t.equal(old.statusCode, 200);
  // The same length, other bytes: only the modification time tells them apart.
  const rebuilt = old.body.replace('Folio browser client', 'Folio browser CLIENT');
  t.not(rebuilt, old.body);
  await writeFile(join(dir, 'folio.js'), rebuilt);

  const validators = { 'if-none-match': String(old.headers.etag), 'if-modified-since': String(old.headers['last-modified']) };
  for (const headers of [validators, { 'if-none-match': validators['if-none-match'] }, { 'if-modified-since': validators['if-modified-since'] }]) {
    const res = await app.inject({ method: 'GET', url: '/client/folio.js', headers });
    t.equal(res.statusCode, 200, Object.keys(headers).join(' and '));
    t.equal(res.body, rebuilt);
    t.not(res.headers.etag, old.headers.etag);
    t.not(res.headers['last-modified'], old.headers['last-modified']);
  }
  const current = await app.inject({ method: 'GET', url: '/client/folio.js' });
  const revalidated = await app.inject({ method: 'GET', url: '/client/folio.js', headers: { 'if-none-match': String(current.headers.etag) } });
  t.equal(revalidated.statusCode, 304);
});

t.test('a cross-origin load gets Access-Control-Allow-Origin: * without credentials, from any origin', async (t) => {
  const app = await build(t);
  for (const origin of [bookOrigin, 'https://some-other-book.example', 'null']) {
    const res = await app.inject({ method: 'GET', url: '/client/folio.js', headers: { origin } });
    t.equal(res.statusCode, 200);
    t.strictSame(corsHeaders(res.headers), { 'access-control-allow-origin': '*' }, origin);
    t.equal(res.headers.vary, 'Origin, accept-encoding', 'Origin, and the encoding (components have compressed copies)');
  }
});

t.test('a request for the client without Origin gets no Access-Control-* header', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/client/folio.js' });
  t.strictSame(corsHeaders(res.headers), {});
});

t.test('the API keeps its own CORS rules: the client\'s * never reaches /api', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/api/books/book', headers: { origin: 'https://some-other-book.example' } });
  t.strictSame(corsHeaders(res.headers), {});
});

t.test('GET /client/folio.d.ts serves one self-contained declaration file', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/client/folio.d.ts', headers: { origin: bookOrigin } });
  t.equal(res.statusCode, 200);
  t.equal(res.headers['content-type'], 'application/typescript; charset=utf-8');
  t.equal(res.headers['access-control-allow-origin'], '*');
  t.match(res.body, /export declare class Folio \{/);
  t.match(res.body, /export interface FolioOptions \{/);
  t.notMatch(res.body, /from '\.\.?\//, 'no imports of other files');
});

t.test('the source map is served next to the module', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/client/folio.js.map' });
  t.equal(res.statusCode, 200);
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8');
  t.match(JSON.parse(res.body), { version: 3, sources: Array });
});

t.test('other paths under /client/ are a JSON 404, files of the folder that are not the client\'s too', async (t) => {
  const { app, dir } = await buildServingCopy(t);
  await writeFile(join(dir, 'other.js'), 'export {};\n');
  await writeFile(join(dir, '.env'), 'SECRET=1\n');
  for (const url of ['/client/other.js', '/client/.env', '/client/', '/client', '/client/folio.js/', '/client/%2e%2e/package.json', '/client/../package.json']) {
    const res = await app.inject({ method: 'GET', url });
    t.equal(res.statusCode, 404, url);
    t.match(res.json(), { statusCode: 404, error: 'not_found' }, url);
  }
});

t.test('the client\'s files are not in the OpenAPI document', async (t) => {
  const app = await build(t);
  const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json() as { paths: Record<string, unknown> };
  t.strictSame(Object.keys(doc.paths).filter((path) => path.startsWith('/client')), []);
});

t.test('a client not built yet is a 503 that says to build it, for each of its files', async (t) => {
  const app = await buildServing(t, 'not-built');
  for (const name of ['folio.js', 'folio.js.map', 'folio.d.ts']) {
    const res = await app.inject({ method: 'GET', url: `/client/${name}` });
    t.equal(res.statusCode, 503, name);
    t.strictSame(res.json(), {
      statusCode: 503,
      error: 'client_not_built',
      message: 'the browser client is not built: run "npm run build" (or "npm run build:client") and retry',
    });
  }
  const other = await app.inject({ method: 'GET', url: '/client/other.js' });
  t.equal(other.statusCode, 404);
});
