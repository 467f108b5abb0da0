/**
 * Folio serves the components for book authors (npm test builds them first): /client/components.js, a registry
 * that loads each element type's code from /client/components/NAME-HASH.js, and components.css. The registry revalidates
 * like /client/folio.js; the hashed files are cached for good; browsers that accept brotli or gzip get the build's
 * compressed copies.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import t from 'tap';
import { bookOrigin, build, corsHeaders, root } from './helper.js';

const built = join(root, 'dist/client');
const chunks = (await readdir(join(built, 'components'))).filter((f) => f.endsWith('.js'));
const choice = chunks.find((f) => f.startsWith('choice-'))!;

t.test('GET /client/components.js serves the registry as JavaScript any site may load, revalidated after five minutes', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/client/components.js', headers: { origin: bookOrigin } });
  t.equal(res.statusCode, 200);
  t.equal(res.headers['content-type'], 'text/javascript; charset=utf-8');
  t.equal(res.headers['cache-control'], 'public, max-age=300');
  t.equal(res.headers['cross-origin-resource-policy'], 'cross-origin');
  t.strictSame(corsHeaders(res.headers), { 'access-control-allow-origin': '*' });
  t.equal(res.body, await readFile(join(built, 'components.js'), 'utf8'));
  for (const element of ['choice', 'blank', 'short-answer', 'complete', 'status', 'login', 'code', 'book']) {
    const file = chunks.find((f) => f.startsWith(`${element}-`));
    t.ok(file, `a file for ${element}`);
    t.match(res.body, `./components/${file}`, `the registry names ${file}`);
  }
});

t.test('a component file is served with a year\'s immutable caching (its name changes with its content)', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: `/client/components/${choice}`, headers: { origin: bookOrigin } });
  t.equal(res.statusCode, 200);
  t.equal(res.headers['content-type'], 'text/javascript; charset=utf-8');
  t.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable');
  t.equal(res.headers['cross-origin-resource-policy'], 'cross-origin');
  t.strictSame(corsHeaders(res.headers), { 'access-control-allow-origin': '*' });
  t.equal(res.body, await readFile(join(built, 'components', choice), 'utf8'));
});

t.test('browsers that accept brotli or gzip get the compressed copy, with Vary: Accept-Encoding', async (t) => {
  const app = await build(t);
  const original = await readFile(join(built, 'components', choice));
  const br = await app.inject({ method: 'GET', url: `/client/components/${choice}`, headers: { 'accept-encoding': 'gzip, deflate, br, zstd' } });
  t.equal(br.statusCode, 200);
  t.equal(br.headers['content-encoding'], 'br');
  t.match(String(br.headers.vary), /accept-encoding/i);
  t.equal(br.headers['content-type'], 'text/javascript; charset=utf-8');
  t.same(brotliDecompressSync(br.rawPayload), original);
  const gz = await app.inject({ method: 'GET', url: '/client/components.css', headers: { 'accept-encoding': 'gzip' } });
  t.equal(gz.headers['content-encoding'], 'gzip');
  t.equal(gz.headers['content-type'], 'text/css; charset=utf-8');
  t.same(gunzipSync(gz.rawPayload), await readFile(join(built, 'components.css')));
  const plain = await app.inject({ method: 'GET', url: '/client/folio.js', headers: { 'accept-encoding': 'br' } });
  t.equal(plain.headers['content-encoding'], undefined, 'folio.js has no compressed copy: sent as it is');
  t.equal(plain.body, await readFile(join(built, 'folio.js'), 'utf8'));
});

t.test('a component file that does not exist, or a name outside the pattern, is a JSON 404', async (t) => {
  const app = await build(t);
  for (const url of ['/client/components/choice-AAAAAAAA.js', '/client/components/..%2Ffolio.js', '/client/components/choice.js', `/client/components/${choice}.br`]) {
    const res = await app.inject({ method: 'GET', url });
    t.equal(res.statusCode, 404, url);
    t.equal(res.json().error, 'not_found', url);
  }
});
