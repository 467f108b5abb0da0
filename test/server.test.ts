import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { spawnServer } from './helper.js';

t.test('folio serve migrates with --migrate, serves, and on SIGTERM closes cleanly with exit code 0', async (t) => {
  const file = join(t.testdir(), 'folio.db');
  const server = await spawnServer(t, { FOLIO_DATABASE_URL: file }, ['--migrate']);
  const res = await fetch(`${server.url}/api/books/demo`, { headers: { origin: 'http://localhost:8080' } });
  t.equal(res.status, 200);
  t.equal(res.headers.get('access-control-allow-origin'), 'http://localhost:8080');
  t.equal(res.headers.get('access-control-allow-credentials'), 'true');
  t.ok(existsSync(`${file}-wal`), 'WAL mode while running');
  server.child.kill('SIGTERM');
  t.equal(await server.exited, 0);
  t.ok(server.logs.some((l) => l.includes('shutting down: finishing in-flight requests')));
  t.notOk(existsSync(`${file}-wal`), 'the database was closed (WAL checkpointed and removed)');
  await t.rejects(fetch(`${server.url}/healthz`), 'no longer listening');
});

t.test('folio serve warns once that plain HTTP is for development', async (t) => {
  const server = await spawnServer(t, { FOLIO_DATABASE_URL: join(t.testdir(), 'folio.db') }, ['--migrate', '--no-demo']);
  server.child.kill('SIGINT');
  t.equal(await server.exited, 0);
  t.equal(server.logs.filter((l) => l.includes('serving plain HTTP')).length, 1);
  t.notOk(server.logs.some((l) => l.includes('created the demo book')), '--no-demo');
});
