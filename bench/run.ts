/**
 * The benchmark suite (not a test): each scenario against the real app, next to a ceiling — a bare Fastify GET
 * route returning a small JSON object — measured in the same process, in the same run.
 *
 *   npm run bench                       # all scenarios, 10 s each
 *   npm run bench -- --duration 5 --only answers-cookie,state
 */
import autocannon from 'autocannon';
import Fastify, { type FastifyInstance } from 'fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildApp } from '../app.js';
import { loadConfig } from '../plugins/config.js';

const { values: args } = parseArgs({
  options: { duration: { type: 'string', default: '10' }, connections: { type: 'string', default: '50' }, only: { type: 'string' } },
});
const duration = Number(args.duration);
const connections = Number(args.connections);

interface Result {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

async function measure(name: string, url: string, opts: Partial<autocannon.Options> = {}): Promise<Result> {
  const r = await autocannon({ url, connections, duration, ...opts });
  return { name, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors + r.timeouts };
}

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  return `http://127.0.0.1:${port}`;
}

const ceiling = Fastify({ logger: false });
ceiling.get('/ceiling', async () => ({ hello: 'world', n: 1 }));
const ceilingUrl = await listen(ceiling);

const dir = mkdtempSync(join(tmpdir(), 'folio-bench-'));
const config = { ...loadConfig({}), databaseUrl: join(dir, 'folio.db'), logLevel: 'silent' as const, demo: true, passwordCost: 10 };
const app = await buildApp({ config, migrate: true, logger: false });
const base = await listen(app);
const origin = 'http://localhost:8080';

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}${path}`, { method, headers: { origin, 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res;
}

const reg = await call('POST', '/api/auth/register', { username: 'bench', password: 'correct horse battery' });
const cookie = reg.headers.get('set-cookie')!.split(';')[0]!;
const { token } = (await (await call('POST', '/api/auth/login', { username: 'bench', password: 'correct horse battery', mode: 'token' })).json()) as { token: string };

// The student of scenario 3: 10,000 rows in all, 100 questions and 10 programs on the measured page.
const { userId } = { userId: (app.db.sqlite.prepare("SELECT id FROM users WHERE username = 'bench'").get() as { id: string }).id };
app.db.sqlite.transaction(() => {
  const answer = app.db.sqlite.prepare("INSERT INTO answers (user_id, book_id, question, attempt, kind, answer, correct, page, saved_at) VALUES (?, 'demo', ?, ?, 'mchoice', '[\"a\"]', 1, ?, ?)");
  const program = app.db.sqlite.prepare("INSERT INTO programs (user_id, book_id, activity, version, code, language, page, saved_at) VALUES (?, 'demo', ?, ?, ?, 'python', ?, ?)");
  let rows = 0;
  for (let q = 0; q < 100; q++) for (let a = 1; a <= 3; a++, rows++) answer.run(userId, `q${q}`, a, 'bench/page', Date.now());
  for (let p = 0; p < 10; p++) for (let v = 1; v <= 3; v++, rows++) program.run(userId, `ac${p}`, v, 'print("hello")\n'.repeat(20), 'bench/page', Date.now());
  for (let i = 0; rows < 10_000; i++, rows++) answer.run(userId, `other${i % 2000}`, Math.floor(i / 2000) + 1, `ch${i % 50}`, Date.now());
})();

const json = { origin, 'content-type': 'application/json' };
const scenarios: Record<string, () => Promise<Result>> = {
  'answers-cookie': () =>
    measure('1. POST answers (cookie, Origin, durable)', `${base}/api/books/demo/answers/q1`, {
      method: 'POST',
      headers: { ...json, cookie },
      body: JSON.stringify({ kind: 'mchoice', answer: ['b'], correct: true, page: 'ch1' }),
    }),
  'answers-bearer': () =>
    measure('2. POST answers (bearer token)', `${base}/api/books/demo/answers/q2`, {
      method: 'POST',
      headers: { ...json, authorization: `Bearer ${token}` },
      body: JSON.stringify({ kind: 'mchoice', answer: ['b'], correct: true, page: 'ch1' }),
    }),
  state: () => measure('3. GET state (100 questions, 10 programs; 10,000 rows)', `${base}/api/books/demo/state?page=bench/page`, { headers: { origin, cookie } }),
  events: () =>
    measure('4. POST events (50 a request)', `${base}/api/books/demo/events`, {
      method: 'POST',
      headers: { ...json, cookie },
      body: JSON.stringify({ events: Array.from({ length: 50 }, (_, i) => ({ type: 'run', target: `ac${i}`, page: 'ch1', data: { ms: i } })) }),
    }),
  programs: () =>
    measure('5. PUT programs (20 KiB of code)', `${base}/api/books/demo/programs/big`, {
      method: 'PUT',
      headers: { ...json, cookie },
      body: JSON.stringify({ code: 'x = 1  # some code\n'.repeat(1078), page: 'ch1' }),
    }),
};

const chosen = args.only ? args.only.split(',') : Object.keys(scenarios);
const results: Result[] = [];
for (const key of chosen) {
  const top = await measure('ceiling: bare Fastify GET', `${ceilingUrl}/ceiling`);
  const r = await scenarios[key]!();
  results.push(top, r);
  process.stderr.write(`${r.name}: ${r.rps.toFixed(0)} req/s (${((r.rps / top.rps) * 100).toFixed(1)} % of ${top.rps.toFixed(0)})\n`);
}

const lines = [
  `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${connections} connections, ${duration} s each, load generator in the same process`,
  '',
  '| scenario | req/s | p50 ms | p99 ms | % of ceiling | non-2xx | errors |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
];
for (let i = 0; i < results.length; i += 2) {
  const top = results[i]!;
  const r = results[i + 1]!;
  lines.push(`| ${top.name} | ${top.rps.toFixed(0)} | ${top.p50} | ${top.p99} | 100 | ${top.non2xx} | ${top.errors} |`);
  lines.push(`| ${r.name} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${((r.rps / top.rps) * 100).toFixed(1)} | ${r.non2xx} | ${r.errors} |`);
}
console.log(lines.join('\n'));

await app.close();
await ceiling.close();
rmSync(dir, { recursive: true, force: true });
