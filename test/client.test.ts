/**
 * Folio serves the built browser client (npm test builds it first) at /client/folio.js to any site: an ES module
 * with no dependencies, loadable cross-origin, cacheable with a validator.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { bookOrigin, build, corsHeaders, root } from './helper.js';

const built = join(root, 'dist/client');

t.test('GET /client/folio.js serves the built module as JavaScript that any site may load', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/client/folio.js' });
  t.equal(res.statusCode, 200);
  t.equal(res.headers['content-type'], 'text/javascript; charset=utf-8');
  t.equal(res.headers['cross-origin-resource-policy'], 'cross-origin');
  t.equal(res.headers['cache-control'], 'public, max-age=300');
  t.match(res.headers.etag, /^"[A-Za-z0-9_-]{27}"$/);
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
  const stale = await app.inject({ method: 'GET', url: '/client/folio.js', headers: { 'if-none-match': '"stale"' } });
  t.equal(stale.statusCode, 200);
});

t.test('a cross-origin load gets Access-Control-Allow-Origin: * without credentials, from any origin', async (t) => {
  const app = await build(t);
  for (const origin of [bookOrigin, 'https://some-other-book.example', 'null']) {
    const res = await app.inject({ method: 'GET', url: '/client/folio.js', headers: { origin } });
    t.equal(res.statusCode, 200);
    t.strictSame(corsHeaders(res.headers), { 'access-control-allow-origin': '*' }, origin);
    t.equal(res.headers.vary, 'Origin');
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

t.test('other paths under /client/ are a JSON 404', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/client/other.js' });
  t.equal(res.statusCode, 404);
  t.match(res.json(), { statusCode: 404, error: 'not_found' });
});
