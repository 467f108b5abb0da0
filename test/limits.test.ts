import { connect, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import type { Config } from '../lib/config.js';
import { build } from './helper.js';
import { sql } from 'drizzle-orm';

async function listening(t: Test, overrides: Partial<Config> = {}) {
  const app = await build(t, overrides);
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, port: (app.server.address() as { port: number }).port };
}

/** Opens a raw connection and collects everything the server sends until it closes the connection. */
function rawClient(port: number): { socket: Socket; closed: Promise<{ data: string; after: number }> } {
  const socket = connect(port, '127.0.0.1');
  const started = Date.now();
  let data = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (data += chunk));
  socket.on('error', () => {});
  const closed = new Promise<{ data: string; after: number }>((resolve) => socket.on('close', () => resolve({ data, after: Date.now() - started })));
  return { socket, closed };
}

t.test('a client that sends its headers too slowly is cut off while others are served', async (t) => {
  const { port } = await listening(t, { headersTimeoutMs: 1000, requestTimeoutMs: 2000 });
  const slow = rawClient(port);
  slow.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
  const drip = setInterval(() => slow.socket.write('X-Slow: 1\r\n'), 200);
  t.teardown(() => clearInterval(drip));
  const served = await fetch(`http://127.0.0.1:${port}/healthz`);
  t.equal(served.status, 200, 'another client is served meanwhile');
  const { data, after } = await slow.closed;
  clearInterval(drip);
  t.match(data, /^HTTP\/1\.1 408 Request Timeout/);
  t.ok(after < 4000, `cut off after ${after} ms`);
});

t.test('a client that sends its body too slowly is cut off', async (t) => {
  const { port } = await listening(t, { headersTimeoutMs: 1000, requestTimeoutMs: 1500 });
  const slow = rawClient(port);
  slow.socket.write('POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"us');
  const { data, after } = await slow.closed;
  t.match(data, /^HTTP\/1\.1 408 Request Timeout/);
  t.ok(after < 4000, `cut off after ${after} ms`);
});

t.test('oversized headers are refused with 431', async (t) => {
  const { port } = await listening(t);
  const big = rawClient(port);
  big.socket.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
  const { data } = await big.closed;
  t.match(data, /^HTTP\/1\.1 431 Request Header Fields Too Large/);
});

t.test('a body larger than announced or over 1 MiB never reaches a handler', async (t) => {
  const { app, port } = await listening(t);
  const big = rawClient(port);
  big.socket.write(`PUT /api/books/book/programs/ac1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n`);
  big.socket.write('{"code":"' + 'x'.repeat(64 * 1024));
  const { data } = await big.closed;
  t.match(data, /^HTTP\/1\.1 413 Payload Too Large/);
  t.match(data, /"error":"body_too_large"/);
  t.same((await app.db.get(sql`SELECT count(*) AS n FROM programs`)), { n: 0 });
});

t.test('header values with control characters are refused with 400', async (t) => {
  const { port } = await listening(t);
  const bad = rawClient(port);
  bad.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Evil: a\u0001b\r\n\r\n');
  const { data } = await bad.closed;
  t.match(data, /^HTTP\/1\.1 400 Bad Request/);
});
