/**
 * Load test (not a test): 200 connections for 60 s against a mix of the scenarios on the real app, in this
 * process. Reports errors, non-2xx replies and RSS at the start and the end.
 *   npx tsx bench/load.ts [--seconds 60] [--connections 200]
 */
import autocannon from 'autocannon';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildApp } from '../app.js';
import { loadConfig } from '../plugins/config.js';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '60' }, connections: { type: 'string', default: '200' }, help: { type: 'boolean', short: 'h', default: false } },
});
if (values.help) {
  console.log(`npx tsx bench/load.ts [--seconds 60] [--connections 200]: a mix of the bench scenarios on the real app in this process;
reports requests, errors, timeouts, non-2xx replies, and RSS and JS heap at the start and the end (run with
node --expose-gc --import tsx for the heap after GC)`);
  process.exit(0);
}
const dir = mkdtempSync(join(tmpdir(), 'folio-load-'));
const app = await buildApp({ config: { ...loadConfig({}), databaseUrl: join(dir, 'folio.db'), logLevel: 'silent', demo: true, passwordCost: 10 }, migrate: true, logger: false });
await app.listen({ host: '127.0.0.1', port: 0 });
const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
const origin = 'http://localhost:8080';
const reg = await fetch(`${base}/api/auth/register`, {
  method: 'POST',
  headers: { origin, 'content-type': 'application/json' },
  body: JSON.stringify({ username: 'load', password: 'correct horse battery' }),
});
const cookie = reg.headers.get('set-cookie')!.split(';')[0]!;
const headers = { origin, cookie, 'content-type': 'application/json' };

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
global.gc?.();
const rssStart = process.memoryUsage().rss;
const heapStart = process.memoryUsage().heapUsed;
// RSS every 10 s: flat means it stops growing once the heap and SQLite's page cache have their working size.
const samples: string[] = [];
const sampler = setInterval(() => samples.push(mb(process.memoryUsage().rss)), 10_000);
const result = await autocannon({
  url: base,
  connections: Number(values.connections),
  duration: Number(values.seconds),
  requests: [
    { method: 'POST', path: '/api/books/demo/answers/q1', headers, body: JSON.stringify({ kind: 'mchoice', answer: ['a'], page: 'ch1' }) },
    { method: 'GET', path: '/api/books/demo/state?page=ch1', headers },
    { method: 'POST', path: '/api/books/demo/events', headers, body: JSON.stringify({ events: Array.from({ length: 50 }, () => ({ type: 'run', page: 'ch1' })) }) },
    { method: 'PUT', path: '/api/books/demo/programs/ac1', headers, body: JSON.stringify({ code: 'x = 1\n'.repeat(3400), page: 'ch1' }) },
  ],
});
clearInterval(sampler);
global.gc?.();
const rssEnd = process.memoryUsage().rss;
const heapEnd = process.memoryUsage().heapUsed;
console.log(
  `${values.connections} connections, ${values.seconds} s, mixed scenarios: ${result.requests.total} requests (${result.requests.average.toFixed(0)}/s), ` +
    `p99 ${result.latency.p99} ms, errors ${result.errors}, timeouts ${result.timeouts}, non-2xx ${result.non2xx}; RSS ${mb(rssStart)} at start, ${mb(rssEnd)} at end ` +
    `(every 10 s: ${samples.join(', ')}); JS heap after GC ${mb(heapStart)} at start, ${mb(heapEnd)} at end`,
);
await app.close();
rmSync(dir, { recursive: true, force: true });
