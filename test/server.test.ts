import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import t from 'tap';
import { root, spawnServer, testDialect } from './helper.js';

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

t.test('SIGTERM lets an in-flight request finish and reply, then exits 0', async (t) => {
  const { connect } = await import('node:net');
  const file = join(t.testdir(), 'folio.db');
  const server = await spawnServer(t, { FOLIO_DATABASE_URL: file }, ['--migrate']);
  const { port } = new URL(server.url);
  const body = JSON.stringify({ code: 'finished after SIGTERM' });
  const socket = connect(Number(port), '127.0.0.1');
  let reply = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (reply += chunk));
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.write(
    `PUT /api/books/demo/programs/ac1 HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nOrigin: http://localhost:8080\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
  );
  socket.write(body.slice(0, 10));
  await new Promise((r) => setTimeout(r, 200));
  server.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  socket.write(body.slice(10));
  await closed;
  t.match(reply, /^HTTP\/1\.1 200 OK/);
  t.match(reply, /\r\nconnection: close\r\n/i, 'the reply ends the kept-alive connection');
  t.match(reply, /"version":1/);
  t.equal(await server.exited, 0);
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(file, { readonly: true });
  t.teardown(() => db.close());
  t.same(db.prepare('SELECT code FROM programs').all(), [{ code: 'finished after SIGTERM' }]);
});

t.test('a request still running after FOLIO_SHUTDOWN_GRACE_MS ends the process with exit code 1 and a log line', async (t) => {
  const { connect } = await import('node:net');
  const server = await spawnServer(t, { FOLIO_DATABASE_URL: join(t.testdir(), 'folio.db'), FOLIO_SHUTDOWN_GRACE_MS: '300' }, ['--migrate']);
  const { port } = new URL(server.url);
  const socket = connect(Number(port), '127.0.0.1');
  socket.on('error', () => {});
  t.teardown(() => socket.destroy());
  socket.write(`PUT /api/books/demo/programs/ac1 HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nOrigin: http://localhost:8080\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{"code":`);
  await new Promise((r) => setTimeout(r, 200));
  server.child.kill('SIGTERM');
  t.equal(await server.exited, 1);
  t.ok(server.logs.some((l) => l.includes('in-flight requests did not finish within 300 ms; exiting')));
});

t.test('a test folder belongs to its run: the PostgreSQL run, going at the same time, names its folders apart', async (t) => {
  const folder = relative(join(root, '.tap/fixtures'), t.testdir());
  t.equal(folder, `test-server.test.ts${testDialect === 'postgres' ? '-on-postgres' : ''}-a-test-folder-belongs-to-its-run-the-PostgreSQL-run-going-at-the-same-time-names-its-folders-apart`);
});
