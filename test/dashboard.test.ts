/**
 * The dashboard as Folio serves it (routes/dashboard.ts): the page at /dashboard/ with its strict CSP, its built
 * script and stylesheet (npm test builds them first) with their types and caching, nothing from another host.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { buildApp } from '../app.js';
import { build, testConfig } from './helper.js';

const csp = "default-src 'self';script-src 'self';style-src 'self';img-src 'self';connect-src 'self';object-src 'none';base-uri 'none';form-action 'self';frame-ancestors 'none'";

t.test('GET /dashboard/ is the page: HTML, revalidated, with the strict CSP and no framing; anyone may load it', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/dashboard/' });
  t.equal(res.statusCode, 200);
  t.equal(res.headers['content-type'], 'text/html; charset=utf-8');
  t.equal(res.headers['cache-control'], 'no-cache');
  t.equal(res.headers['content-security-policy'], csp);
  t.equal(res.headers['x-frame-options'], 'SAMEORIGIN');
  t.equal(res.headers['x-content-type-options'], 'nosniff');
  t.equal(res.headers['cross-origin-resource-policy'], 'same-origin');
  t.match(res.body, '<script type="module" src="dashboard.js"></script>');
  t.match(res.body, '<link rel="stylesheet" href="dashboard.css">');
});

t.test('the page has no inline script, no inline style and no URL of another host', async (t) => {
  const app = await build(t);
  const html = (await app.inject({ method: 'GET', url: '/dashboard/' })).body;
  t.notMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'every script is a file');
  t.notMatch(html, /<style|\sstyle=/, 'no inline style');
  t.notMatch(html, /\bon[a-z]+=/, 'no inline handler');
  t.notMatch(html, /(?:https?:)?\/\/[a-z0-9]/i, 'no absolute URL');
});

t.test('GET /dashboard redirects to /dashboard/ (the page\'s relative URLs need the slash)', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/dashboard' });
  t.equal(res.statusCode, 301);
  t.equal(res.headers.location, '/dashboard/');
});

t.test('the script and the stylesheet are served with their types, revalidated by ETag (304 while unchanged), under the same CSP', async (t) => {
  const app = await build(t);
  for (const [name, type] of [
    ['dashboard.js', 'text/javascript; charset=utf-8'],
    ['dashboard.css', 'text/css; charset=utf-8'],
    ['dashboard.js.map', 'application/json; charset=utf-8'],
  ] as const) {
    const res = await app.inject({ method: 'GET', url: `/dashboard/${name}` });
    t.equal(res.statusCode, 200, name);
    t.equal(res.headers['content-type'], type, name);
    t.equal(res.headers['cache-control'], 'no-cache', name);
    t.equal(res.headers['content-security-policy'], csp, name);
    t.ok(res.headers.etag, `${name} has an ETag`);
    const again = await app.inject({ method: 'GET', url: `/dashboard/${name}`, headers: { 'if-none-match': String(res.headers.etag) } });
    t.equal(again.statusCode, 304, `${name} unchanged`);
  }
});

t.test("the built script and its chart's module are under 200 KB compressed and call only their own origin", async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/dashboard/dashboard.js', headers: { 'accept-encoding': 'identity' } });
  const chart = await app.inject({ method: 'GET', url: '/dashboard/chart.js', headers: { 'accept-encoding': 'identity' } });
  t.equal(chart.statusCode, 200);
  const { gzipSync } = await import('node:zlib');
  t.ok(gzipSync(res.rawPayload).length + gzipSync(chart.rawPayload).length < 200 * 1024, 'under the budget');
  t.strictSame([...res.body.matchAll(/\bimport\s*\(\s*("[^"]*")|\bimport\s*["'{]/g)].map((m) => m[1]), ['"./chart.js"'], "imports only the chart's module, when it draws a chart");
  t.notMatch(chart.body, /\bimport\s*\(|\bimport\s*["'{]/, 'the chart imports nothing');
  t.notMatch(res.body + chart.body, /https?:\/\/(?!www\.w3\.org)/, 'names no other host');
  t.match(res.body, /credentials:"same-origin"/, 'calls the API with its first-party cookie');
  const css = (await app.inject({ method: 'GET', url: '/dashboard/dashboard.css' })).body;
  t.notMatch(css, /@import|url\(/, 'the stylesheet loads nothing more');
});

t.test('a dashboard not built yet is a 503 that says how to build it, not a 404', async (t) => {
  const config = testConfig(t);
  const dir = join(t.testdirName, 'empty');
  await mkdir(dir, { recursive: true });
  const app = await buildApp({ config, migrate: true, logger: false, dashboardDir: dir });
  t.teardown(() => app.close());
  const res = await app.inject({ method: 'GET', url: '/dashboard/dashboard.js' });
  t.equal(res.statusCode, 503);
  t.equal(res.json().error, 'dashboard_not_built');
  t.match(res.json().message, 'npm run build');
});

t.test('unknown files under /dashboard/ are 404: only the built files are served', async (t) => {
  const app = await build(t);
  for (const url of ['/dashboard/main.ts', '/dashboard/../package.json', '/dashboard/index.html']) {
    t.equal((await app.inject({ method: 'GET', url })).statusCode, 404, url);
  }
});
