import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { buildApp } from '../app.js';
import { readThread } from '../db/sqlite.js';
import { cleanEnv, databaseEnv, root, testConfig, testDialect } from './helper.js';

/**
 * Prints, on SIGWINCH (a signal close-with-grace leaves alone), the names of the packages the process has loaded, as
 * one JSON line: require's cache holds the CommonJS modules that ES modules import too (node-postgres is CommonJS).
 */
const reportLoaded = `
process.on('SIGWINCH', () => {
  const packages = new Set(Object.keys(require.cache).map((file) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(file)?.[1]).filter(Boolean));
  process.stdout.write('loaded packages: ' + JSON.stringify([...packages].sort()) + '\\n');
});
`;

/** The packages a real `folio serve` (built) has loaded once it has answered /healthz and /readyz (a read of the database). */
async function packagesLoadedWhileServing(t: Test): Promise<string[]> {
  const env = { ...cleanEnv(), ...databaseEnv(testConfig(t)), FOLIO_LOG_LEVEL: 'info', FOLIO_DEMO: '0' };
  // After testConfig: its SQLite file empties the test's folder.
  mkdirSync(t.testdirName, { recursive: true });
  const preload = join(t.testdirName, 'report-loaded.cjs');
  writeFileSync(preload, reportLoaded);
  const child = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, '--require', preload, join(root, 'dist/cli/folio.js'), 'serve', '--port', '0', '--migrate'], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const seen = (pattern: RegExp) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(out);
        if (match) resolve(match);
        return match;
      };
      if (check()) return;
      child.stdout.on('data', check);
      void exited.then((code) => reject(new Error(`folio serve exited with ${code}: ${out}${stderr}`)));
    });
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const url = (await seen(/Server listening at (http\S+)"/))[1]!;
  t.equal((await fetch(`${url}/healthz`)).status, 200);
  t.equal((await fetch(`${url}/readyz`)).status, 200);
  child.kill('SIGWINCH');
  const loaded = JSON.parse((await seen(/loaded packages: (.*)\n/))[1]!) as string[];
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'shuts down cleanly');
  t.ok(loaded.includes('fastify'), 'the report sees the packages loaded');
  return loaded;
}

const nodePostgres = (packages: string[]) => packages.filter((name) => /^pg(-|$)/.test(name));

t.test('on SQLite, serving loads no module of node-postgres (pg, pg-pool, pg-cursor…)', { skip: testDialect !== 'sqlite' && 'SQLite only' }, async (t) => {
  t.same(nodePostgres(await packagesLoadedWhileServing(t)), []);
});

t.test('on PostgreSQL, the same report finds node-postgres loaded', { skip: testDialect !== 'postgres' && 'PostgreSQL only' }, async (t) => {
  const loaded = await packagesLoadedWhileServing(t);
  t.same(['pg', 'pg-cursor'].filter((name) => loaded.includes(name)), ['pg', 'pg-cursor']);
});

t.test('on SQLite, the start reads nothing through the read thread: it starts once the server listens', { skip: testDialect !== 'sqlite' && 'SQLite only' }, async (t) => {
  const app = await buildApp({ config: { ...testConfig(t), demo: true }, migrate: true, logger: false });
  t.teardown(() => app.close());
  t.equal(readThread.running, false, 'migrations checked and applied, demo book made, origins loaded: no read thread');
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.equal(readThread.running, true);
});
