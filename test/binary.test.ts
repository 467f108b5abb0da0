import { execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { root } from './helper.js';

const binary = join(root, 'dist/folio');
const run = promisify(execFile);

t.test('the single binary runs alone: no node, no node_modules, only itself in an empty folder', async (t) => {
  t.ok(existsSync(binary), 'dist/folio exists (npm test builds it with npm run build:binary)');
  const dir = mkdtempSync(join(tmpdir(), 'folio-binary-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(binary, join(dir, 'folio'));
  // env -i: nothing inherited; PATH holds only the folder with the binary, so no `node` can be found.
  const env = ['-i', `PATH=${dir}`, `HOME=${dir}`, `FOLIO_DATABASE_URL=${join(dir, 'course.db')}`, 'FOLIO_PASSWORD_COST=10'];
  const folio = (...args: string[]) => run('/usr/bin/env', [...env, 'folio', ...args], { cwd: dir });

  t.match((await folio('--version')).stdout, /^\d+\.\d+\.\d+\n$/);
  t.match((await folio('--help')).stdout, /Usage: folio/);
  await t.rejects(run('/usr/bin/env', [...env, 'node', '--version']), 'no node on that PATH');
  t.match((await folio('migrate')).stdout, /applied \d+ migration/);
  t.equal((await folio('books', 'add', 'course', '--title', 'Course', '--origin', 'https://course.example')).stdout, 'added book course allowing https://course.example\n');

  const server = spawn('/usr/bin/env', [...env, 'FOLIO_PORT=0', 'FOLIO_LOG_LEVEL=info', 'folio', 'serve'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => server.once('exit', resolve));
  t.teardown(() => {
    if (server.exitCode === null) server.kill('SIGKILL');
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    server.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const match = /Server listening at (http\S+)"/.exec(out);
      if (match) resolve(match[1]!);
    });
    void exited.then((code) => reject(new Error(`exited ${code}: ${out}`)));
  });
  const origin = 'https://course.example';
  const json = { origin, 'content-type': 'application/json' };
  const reg = await fetch(`${url}/api/auth/register`, { method: 'POST', headers: json, body: JSON.stringify({ username: 'ada', password: 'correct horse battery', mode: 'token' }) });
  t.equal(reg.status, 201);
  t.equal(reg.headers.get('access-control-allow-origin'), origin);
  const { token } = (await reg.json()) as { token: string };
  const auth = { ...json, authorization: `Bearer ${token}` };
  const saved = await fetch(`${url}/api/books/course/programs/ac1`, { method: 'PUT', headers: auth, body: JSON.stringify({ code: 'print("from the binary")' }) });
  t.equal(saved.status, 200);
  const read = (await (await fetch(`${url}/api/books/course/programs/ac1`, { headers: auth })).json()) as { code: string };
  t.equal(read.code, 'print("from the binary")');
  const client = await fetch(`${url}/client/folio.js`);
  t.equal(client.status, 200);
  t.match(client.headers.get('content-type'), /^text\/javascript/);
  t.match(await client.text(), /export/);
  // The components: the registry, and an element's code it names (content-hashed, compressed, cached for good).
  const components = await fetch(`${url}/client/components.js`);
  t.equal(components.status, 200);
  const choice = /components\/(choice-[A-Z0-9]{8}\.js)/.exec(await components.text())?.[1];
  t.ok(choice, 'the registry names the choice element\'s file');
  const chunk = await fetch(`${url}/client/components/${choice}`, { headers: { 'accept-encoding': 'br' } });
  t.equal(chunk.status, 200);
  t.equal(chunk.headers.get('content-encoding'), 'br');
  t.equal(chunk.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  t.match(await chunk.text(), /folio-choice/);
  // The dashboard's page, and its script from the binary's assets.
  const dashboard = await fetch(`${url}/dashboard/`);
  t.equal(dashboard.status, 200);
  t.match(dashboard.headers.get('content-security-policy'), /^default-src 'self';script-src 'self';style-src 'self'/);
  const dashboardScript = await fetch(`${url}/dashboard/dashboard.js`);
  t.equal(dashboardScript.status, 200);
  t.equal(dashboardScript.headers.get('content-type'), 'text/javascript; charset=utf-8');
  t.match(await dashboardScript.text(), /Folio dashboard/);
  t.equal((await fetch(`${url}/dashboard/dashboard.css`)).status, 200);
  t.equal((await fetch(`${url}/docs/json`)).status, 200);
  t.equal((await fetch(`${url}/docs/static/index.html`)).status, 200);
  // swagger-ui's files are written from the binary's assets on the first request for the docs, not at start.
  const ui = await fetch(`${url}/docs/static/swagger-ui-bundle.js`);
  t.equal(ui.status, 200);
  t.ok((await ui.arrayBuffer()).byteLength > 100_000, 'swagger-ui-bundle.js whole');
  server.kill('SIGTERM');
  t.equal(await exited, 0, 'shuts down cleanly');
});
