/**
 * The benchmark suite (not a test): each scenario against the real app, next to a ceiling — a bare Fastify GET
 * route returning a small JSON object — measured in the same process, in the same run.
 *
 *   npm run bench                       # all scenarios on SQLite, 10 s each
 *   npm run bench -- --duration 5 --only answers-cookie,state
 *   npm run bench -- --slices 1            # one ceiling measurement, then the scenario (no alternating)
 *
 * On PostgreSQL (issue #9), in a fresh schema `bench_<time>` dropped at the end; build first (`npx tsc -p .`):
 *
 *   npm run bench -- --postgres [postgres://postgres@127.0.0.1:5432/test] [--duration 8] [--rounds 3]
 *
 * runs scenarios 1 and 3, and 1b (scenario 1 with a student per connection; --only picks others), (a) in this
 * process exactly like the SQLite run, against the ceiling, and (b) against one and then two real `folio serve`
 * processes (dist/) on that database, the same 50 connections split evenly across them, with the CPU each party
 * used during the run.
 */
import { sql, type SQL } from 'drizzle-orm';
import autocannon from 'autocannon';
import Fastify, { type FastifyInstance } from 'fastify';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { buildApp } from '../app.js';
import type { Database } from '../db/index.js';
import { saveAnswer, saveProgram } from '../db/work.js';
import { loadConfig, type Config } from '../plugins/config.js';

const { values: args, positionals } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    /** Each scenario and its ceiling are measured in this many alternating slices of duration/slices seconds. */
    slices: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    only: { type: 'string' },
    postgres: { type: 'boolean', default: false },
    /** PostgreSQL, (b): seconds of unmeasured load on freshly started processes before each measurement. */
    warmup: { type: 'string', default: '2' },
    /** PostgreSQL, (b): how many times to measure one, then two processes (a shared machine's noise shows as spread). */
    rounds: { type: 'string', default: '1' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  allowPositionals: true,
});
if (args.help) {
  console.log(`npm run bench -- [options]: each scenario against the real app, next to a bare Fastify GET ceiling in the same process

  --duration S      seconds per scenario and per ceiling (default 10)
  --slices N        measure each in N alternating slices of S/N seconds (default 10: a shared VM's speed moves
                    2-3x within seconds, and short slices put ceiling and scenario in the same moments)
  --connections N   autocannon connections (default 50)
  --only A,B        scenarios by name: answers-cookie, answers-bearer, state, events, programs, answers-students (1b)
  --postgres [URL]  run on PostgreSQL in a schema of its own (default postgres://postgres@127.0.0.1:5432/test);
                    build first (npx tsc -p .) for the runs against real folio serve processes
  --warmup S        unmeasured seconds before each measurement: of the scenario and of the ceiling (SQLite),
                    on fresh processes (PostgreSQL) (default 2)
  --rounds N        PostgreSQL: measure one, then two processes N times (default 1)

Results go to stdout as a Markdown table; bench/RESULTS.md keeps them with the command that produced them.`);
  process.exit(0);
}
const duration = Number(args.duration);
const slices = Math.max(1, Number(args.slices));
const connections = Number(args.connections);
const warmup = Number(args.warmup);
const rounds = Number(args.rounds);
const root = join(import.meta.dirname, '..');
const origin = 'http://localhost:8080';
const secret = 'folio-bench-secret-0123456789abcdefghijklmnopqrstuvwxyz';

// CPU time so far, from /proc (Linux; elsewhere the CPU columns show "–"), in clock ticks: of a process, of every
// `postgres` process, of the whole machine.
const ticksPerSecond = 100;

function processTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime: fields 14 and 15 of stat, 12 and 13 after the command.
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return NaN;
  }
}

function postgresTicks(): Map<number, number> {
  const ticks = new Map<number, number>();
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return ticks;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/comm`, 'utf8').trim() !== 'postgres') continue;
    } catch {
      continue; // gone
    }
    const t = processTicks(Number(name));
    if (Number.isFinite(t)) ticks.set(Number(name), t);
  }
  return ticks;
}

function machineTicks(): number {
  let line: string;
  try {
    line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  } catch {
    return NaN;
  }
  const n = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
  return n.slice(0, 8).reduce((a, b) => a + b, 0) - n[3]! - n[4]!;
}

interface CpuMark {
  at: number;
  servers: number[];
  postgres: Map<number, number>;
  self: NodeJS.CpuUsage;
  machine: number;
}

function cpuMark(servers: number[]): CpuMark {
  return { at: performance.now(), servers: servers.map(processTicks), postgres: postgresTicks(), self: process.cpuUsage(), machine: machineTicks() };
}

/** Cores busy on average since `start`: the servers, PostgreSQL, this process (the load generator) and the whole machine. */
function cpuSince(start: CpuMark, pids: number[]) {
  const end = cpuMark(pids);
  const seconds = (end.at - start.at) / 1000;
  const cores = (ticks: number) => ticks / ticksPerSecond / seconds;
  let postgres = 0;
  for (const [pid, t] of end.postgres) postgres += t - (start.postgres.get(pid) ?? 0);
  const self = process.cpuUsage(start.self);
  const servers = end.servers.map((t, i) => cores(t - start.servers[i]!));
  const loadGenerator = (self.user + self.system) / 1e6 / seconds;
  const machine = cores(end.machine - start.machine);
  // No /proc: nothing known but this process.
  const pg = Number.isFinite(machine) ? cores(postgres) : NaN;
  // Everything else the machine ran meanwhile (other work on a shared machine, the kernel's own threads).
  const other = Math.max(0, machine - servers.reduce((a, b) => a + b, 0) - pg - loadGenerator);
  return { servers, postgres: pg, loadGenerator, other, machine };
}

/** Cores, for the tables ("–" where /proc is missing). */
const fmt = (cores: number) => (Number.isFinite(cores) ? cores.toFixed(2) : '–');

interface Result {
  name: string;
  rps: number;
  /** Requests completed and seconds measured (to combine slices). */
  requests: number;
  seconds: number;
  /** Every request's latency in ms, sorted. */
  latencies: Float64Array;
  p50: number;
  p99: number;
  /** The highest p99 of one slice alone. */
  worstSliceP99: number;
  non2xx: number;
  errors: number;
  /** Cores the rest of the machine kept busy meanwhile: neither this process nor PostgreSQL (other work on a shared machine). */
  otherCpu: number;
}

/** One scenario: a request that autocannon repeats on every connection. */
interface Scenario {
  name: string;
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Gives each connection headers of its own (e.g. its own student). */
  setupClient?: (client: autocannon.Client) => void;
}

async function measure(name: string, url: string, opts: Partial<autocannon.Options> = {}): Promise<Result> {
  const start = cpuMark([]);
  const latencies: number[] = [];
  const r = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({ url, connections, duration, ...opts }, (err: unknown, result: autocannon.Result) => (err ? reject(err as Error) : resolve(result)));
    instance.on('response', (_client: autocannon.Client, _status: number, _bytes: number, ms: number) => latencies.push(ms));
  });
  const otherCpu = cpuSince(start, []).other;
  const sorted = Float64Array.from(latencies).sort();
  return {
    name,
    rps: r.requests.average,
    requests: r.requests.total,
    seconds: r.duration,
    latencies: sorted,
    p50: Math.round(percentile(sorted, 50)),
    p99: Math.round(percentile(sorted, 99)),
    worstSliceP99: Math.round(percentile(sorted, 99)),
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
    otherCpu,
  };
}

/**
 * Slices of one measurement as one: requests over seconds, p50 and p99 of every request of every slice (and the
 * worst slice's own p99, the figure earlier tables gave), every non-2xx and error.
 */
function combine(parts: Result[]): Result {
  const requests = parts.reduce((n, p) => n + p.requests, 0);
  const seconds = parts.reduce((n, p) => n + p.seconds, 0);
  const all = new Float64Array(parts.reduce((n, p) => n + p.latencies.length, 0));
  let at = 0;
  for (const p of parts) all.set(p.latencies, (at += p.latencies.length) - p.latencies.length);
  all.sort();
  return {
    name: parts[0]!.name,
    rps: requests / seconds,
    requests,
    seconds,
    latencies: all,
    p50: Math.round(percentile(all, 50)),
    p99: Math.round(percentile(all, 99)),
    worstSliceP99: Math.max(...parts.map((p) => p.worstSliceP99)),
    non2xx: parts.reduce((n, p) => n + p.non2xx, 0),
    errors: parts.reduce((n, p) => n + p.errors, 0),
    otherCpu: parts.reduce((n, p) => n + p.otherCpu * p.seconds, 0) / seconds,
  };
}

function measureScenario(base: string, s: Scenario, opts: Partial<autocannon.Options> = {}): Promise<Result> {
  return measure(s.name, `${base}${s.path}`, {
    ...opts,
    method: s.method,
    headers: s.headers,
    ...(s.body === undefined ? {} : { body: s.body }),
    ...(s.setupClient ? { setupClient: s.setupClient } : {}),
  });
}

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  return `http://127.0.0.1:${port}`;
}

async function call(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}${path}`, { method, headers: { origin, 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res;
}

/** Rows of one multi-row INSERT: few statements, each well below both databases' limits on parameters. */
const chunk = 500;

async function insertRows(db: Database, head: SQL, rows: unknown[][]): Promise<void> {
  await db.write(async (tx) => {
    // Each row an array: drizzle renders it as a parenthesised list of parameters.
    for (let i = 0; i < rows.length; i += chunk) await tx.run(sql`${head} VALUES ${sql.join(rows.slice(i, i + chunk).map((row) => sql`${row}`), sql`, `)}`);
  });
}

/**
 * The student of scenario 3: 10,000 rows in all; the measured page `bench/page` holds 100 questions (3 attempts
 * each) and 10 programs (3 versions each), saved as the app saves them (`saveAnswer`, `saveProgram`: the newest
 * marked latest, an answer with its page entry); the other 9,670 rows, on other pages, go in as multi-row INSERTs. The
 * page's questions are `bq*`, so the POST scenarios (q1, q2) leave it as it is.
 */
async function seedStudent(db: Database, userId: string): Promise<void> {
  const owner = { userId, bookId: 'demo' };
  const saves: Promise<unknown>[] = [];
  for (let a = 1; a <= 3; a++) for (let q = 0; q < 100; q++) saves.push(saveAnswer(db, owner, `bq${q}`, { kind: 'mchoice', answer: ['a'], correct: true, page: 'bench/page' }));
  for (let v = 1; v <= 3; v++) for (let p = 0; p < 10; p++) saves.push(saveProgram(db, owner, `ac${p}`, { code: 'print("hello")\n'.repeat(20), language: 'python', page: 'bench/page' }));
  await Promise.all(saves);
  const now = Date.now();
  const answers: unknown[][] = [];
  const others = 10_000 - saves.length;
  // `other<k>` has attempts 1, 2, … every 2,000 rows: the last one of each question is its latest.
  for (let i = 0; i < others; i++) answers.push([userId, 'demo', `other${i % 2000}`, Math.floor(i / 2000) + 1, 'mchoice', '["a"]', 1, `ch${i % 50}`, now, i + 2000 >= others ? 1 : 0]);
  await insertRows(db, sql`INSERT INTO answers (user_id, book_id, question, attempt, kind, answer, correct, page, saved_at, latest)`, answers);
}

interface Prepared {
  app: FastifyInstance;
  base: string;
  scenarios: Record<string, Scenario>;
}

/** The real app on `databaseUrl` (migrated, demo book), listening, with the bench student, its token, 50 more students and the seeded rows. */
async function prepare(config: Config): Promise<Prepared> {
  const app = await buildApp({ config, migrate: true, logger: false });
  const base = await listen(app);
  const password = 'correct horse battery';
  const reg = await call(base, 'POST', '/api/auth/register', { username: 'bench', password });
  const cookie = reg.headers.get('set-cookie')!.split(';')[0]!;
  const { token } = (await (await call(base, 'POST', '/api/auth/login', { username: 'bench', password, mode: 'token' })).json()) as { token: string };
  const students: string[] = [];
  for (let i = 0; i < 50; i++) students.push((await call(base, 'POST', '/api/auth/register', { username: `student${i}`, password })).headers.get('set-cookie')!.split(';')[0]!);
  const { id: userId } = (await app.db.get<{ id: string }>(sql`SELECT id FROM users WHERE username = 'bench'`))!;
  const t0 = performance.now();
  await seedStudent(app.db, userId);
  const state = (await (await call(base, 'GET', '/api/books/demo/state?page=bench/page', undefined, { cookie })).json()) as { programs: object; answers: object };
  process.stderr.write(
    `seeded 10,000 rows in ${Math.round(performance.now() - t0)} ms; page state: ${Object.keys(state.answers).length} questions, ${Object.keys(state.programs).length} programs\n`,
  );
  if (Object.keys(state.answers).length !== 100 || Object.keys(state.programs).length !== 10) throw new Error('the seeded page state is not 100 questions and 10 programs');

  const json = { origin, 'content-type': 'application/json' };
  const answer = JSON.stringify({ kind: 'mchoice', answer: ['b'], correct: true, page: 'ch1' });
  let nextStudent = 0;
  const scenarios: Record<string, Scenario> = {
    'answers-cookie': { name: '1. POST answers (cookie, Origin, durable)', method: 'POST', path: '/api/books/demo/answers/q1', headers: { ...json, cookie }, body: answer },
    'answers-bearer': { name: '2. POST answers (bearer token)', method: 'POST', path: '/api/books/demo/answers/q2', headers: { ...json, authorization: `Bearer ${token}` }, body: answer },
    state: { name: '3. GET state (100 questions, 10 programs; 10,000 rows)', method: 'GET', path: '/api/books/demo/state?page=bench/page', headers: { origin, cookie } },
    events: {
      name: '4. POST events (50 a request)',
      method: 'POST',
      path: '/api/books/demo/events',
      headers: { ...json, cookie },
      body: JSON.stringify({ events: Array.from({ length: 50 }, (_, i) => ({ type: 'run', target: `ac${i}`, page: 'ch1', data: { ms: i } })) }),
    },
    programs: {
      name: '5. PUT programs (20 KiB of code)',
      method: 'PUT',
      path: '/api/books/demo/programs/big',
      headers: { ...json, cookie },
      body: JSON.stringify({ code: 'x = 1  # some code\n'.repeat(1078), page: 'ch1' }),
    },
    // Not one of the five: scenario 1 with a student per connection (no two writes wait for the same student's lock).
    'answers-students': {
      name: '1b. POST answers as in 1, one student per connection',
      method: 'POST',
      path: '/api/books/demo/answers/q1',
      headers: { ...json, cookie },
      body: answer,
      setupClient: (client) => client.setHeaders({ ...json, cookie: students[nextStudent++ % students.length]! }),
    },
  };
  return { app, base, scenarios };
}

function startCeiling(): Promise<{ ceiling: FastifyInstance; url: string }> {
  const ceiling = Fastify({ logger: false });
  ceiling.get('/ceiling', async () => ({ hello: 'world', n: 1 }));
  return listen(ceiling).then((base) => ({ ceiling, url: `${base}/ceiling` }));
}

/**
 * Each chosen scenario against the ceiling, the two measured in alternating slices (ceiling, scenario, ceiling, …)
 * so that a shared machine's slower and faster moments fall on both alike; a Markdown table of both.
 */
async function againstCeiling(base: string, scenarios: Record<string, Scenario>, chosen: string[], ceilingUrl: string): Promise<string[]> {
  const results: Result[] = [];
  const slice = { duration: duration / slices };
  for (const key of chosen) {
    const tops: Result[] = [];
    const parts: Result[] = [];
    // Both warm (JIT, caches) before anything counts, as a server is after its first seconds.
    if (warmup > 0) {
      await measure('warm-up', ceilingUrl, { duration: warmup });
      await measureScenario(base, scenarios[key]!, { duration: warmup });
    }
    for (let i = 0; i < slices; i++) {
      tops.push(await measure('ceiling: bare Fastify GET', ceilingUrl, slice));
      parts.push(await measureScenario(base, scenarios[key]!, slice));
      const [top, part] = [tops.at(-1)!, parts.at(-1)!];
      process.stderr.write(`  slice ${i + 1}/${slices}: ceiling ${top.rps.toFixed(0)} req/s (p99 ${top.p99} ms), scenario ${part.rps.toFixed(0)} req/s (p50 ${part.p50}, p99 ${part.p99} ms)\n`);
    }
    const top = combine(tops);
    const r = combine(parts);
    results.push(top, r);
    process.stderr.write(
      `${r.name}: ${r.rps.toFixed(0)} req/s (${((r.rps / top.rps) * 100).toFixed(1)} % of ${top.rps.toFixed(0)}), non-2xx ${r.non2xx}, errors ${r.errors}, other CPU ${fmt(top.otherCpu)}/${fmt(r.otherCpu)}\n`,
    );
  }
  const lines = [
    '| scenario | req/s | p50 ms | p99 ms | p99 ms, worst slice | % of ceiling | non-2xx | errors | CPU other |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (let i = 0; i < results.length; i += 2) {
    const top = results[i]!;
    const r = results[i + 1]!;
    lines.push(`| ${top.name} | ${top.rps.toFixed(0)} | ${top.p50} | ${top.p99} | ${top.worstSliceP99} | 100 | ${top.non2xx} | ${top.errors} | ${fmt(top.otherCpu)} |`);
    lines.push(`| ${r.name} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.worstSliceP99} | ${((r.rps / top.rps) * 100).toFixed(1)} | ${r.non2xx} | ${r.errors} | ${fmt(r.otherCpu)} |`);
  }
  return lines;
}

function chosenScenarios(all: Record<string, Scenario>, defaults: string[]): string[] {
  const chosen = args.only ? args.only.split(',') : defaults;
  for (const key of chosen) if (!all[key]) throw new Error(`no scenario "${key}" (there are ${Object.keys(all).join(', ')})`);
  return chosen;
}

const machine = `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`;
const load = () => loadavg().map((l) => l.toFixed(2)).join(', ');
const loadBefore = load();

async function runSqlite(): Promise<void> {
  const { ceiling, url: ceilingUrl } = await startCeiling();
  const dir = mkdtempSync(join(tmpdir(), 'folio-bench-'));
  const config = { ...loadConfig({}), databaseUrl: join(dir, 'folio.db'), logLevel: 'silent' as const, demo: true, passwordCost: 10, loginRatePerIp: 100_000, ...unboundedStorage };
  try {
    const { app, base, scenarios } = await prepare(config);
    const chosen = chosenScenarios(scenarios, ['answers-cookie', 'answers-bearer', 'state', 'events', 'programs']);
    const table = await againstCeiling(base, scenarios, chosen, ceilingUrl);
    console.log(
      [`SQLite: ${machine}, ${connections} connections, ${duration} s each in ${slices} slices alternating with the ceiling after ${warmup} s of warm-up of each, load generator in the same process; load average before ${loadBefore}, after ${load()}`, '', ...table].join('\n'),
    );
    await app.close();
  } finally {
    await ceiling.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// PostgreSQL

interface ServerProcess {
  child: ChildProcess;
  url: string;
  logs: string[];
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}

/**
 * Storage quotas at their maximum: a scenario's few students write tens of thousands of rows in seconds, far past a
 * student's quota (FOLIO_QUOTA_*), and would measure refusals instead of writes.
 */
const unboundedStorage = { quotaVersions: 1_000_000_000, quotaEvents: 1_000_000_000, quotaBytes: 2 ** 50 };

/** The built `folio serve` as a process of its own (no FOLIO_* or NODE_OPTIONS of ours), once it answers /healthz. */
async function startServer(databaseUrl: string): Promise<ServerProcess> {
  const port = await freePort();
  const env = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('FOLIO_') || name === 'NODE_OPTIONS') delete env[name];
  Object.assign(env, {
    FOLIO_DATABASE_URL: databaseUrl,
    FOLIO_SECRET: secret,
    FOLIO_LOG_LEVEL: 'warn',
    FOLIO_QUOTA_VERSIONS: String(unboundedStorage.quotaVersions),
    FOLIO_QUOTA_EVENTS: String(unboundedStorage.quotaEvents),
    FOLIO_QUOTA_BYTES: String(unboundedStorage.quotaBytes),
  });
  const child = spawn(process.execPath, [join(root, 'dist/cli/folio.js'), 'serve', '--port', String(port), '--no-demo'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  child.stdout!.setEncoding('utf8').on('data', (c: string) => logs.push(c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => logs.push(c));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`folio serve exited with ${child.exitCode}:\n${logs.join('')}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) return { child, url, logs };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`folio serve did not answer within 30 s:\n${logs.join('')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stopServer(server: ServerProcess): Promise<void> {
  if (server.child.exitCode !== null) return;
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGTERM');
  await exited;
}

interface SplitResult extends Result {
  processes: number;
  statuses: Record<string, number>;
  cpu: ReturnType<typeof cpuSince>;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * `connections` split evenly over two autocannon instances in this process, each on one of `bases` in turn:
 * the same load generator whether there are one or two servers. Latencies of both are pooled for p50/p99.
 */
async function measureSplit(bases: string[], s: Scenario, seconds: number, pids: number[]): Promise<SplitResult> {
  const instances = 2;
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const start = cpuMark(pids);
  const runs = Array.from({ length: instances }, (_, i) => new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({
      url: `${bases[i % bases.length]}${s.path}`,
      connections: Math.floor(connections / instances) + (i < connections % instances ? 1 : 0),
      duration: seconds,
      method: s.method,
      headers: s.headers,
      ...(s.body === undefined ? {} : { body: s.body }),
      ...(s.setupClient ? { setupClient: s.setupClient } : {}),
    }, (err: unknown, result: autocannon.Result) => (err ? reject(err as Error) : resolve(result)));
    instance.on('response', (_client: autocannon.Client, status: number, _bytes: number, ms: number) => {
      latencies.push(ms);
      statuses[status] = (statuses[status] ?? 0) + 1;
    });
  }));
  const results = await Promise.all(runs);
  const cpu = cpuSince(start, pids);
  const sorted = Float64Array.from(latencies).sort();
  return {
    name: s.name,
    processes: bases.length,
    rps: results.reduce((sum, r) => sum + r.requests.average, 0),
    requests: results.reduce((sum, r) => sum + r.requests.total, 0),
    seconds,
    latencies: sorted,
    p50: Math.round(percentile(sorted, 50)),
    p99: Math.round(percentile(sorted, 99)),
    worstSliceP99: Math.round(percentile(sorted, 99)),
    non2xx: results.reduce((sum, r) => sum + r.non2xx, 0),
    errors: results.reduce((sum, r) => sum + r.errors + r.timeouts, 0),
    statuses,
    cpu,
    otherCpu: cpu.other,
  };
}

/** The newest modification time under the app's source folders, to tell a stale dist/ from a fresh one. */
function newestSource(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return path.endsWith('.ts') ? stat.mtimeMs : 0;
  return Math.max(0, ...readdirSync(path).map((name) => newestSource(join(path, name))));
}

async function runPostgres(): Promise<void> {
  const server = new URL(positionals[0] ?? 'postgres://postgres@127.0.0.1:5432/test');
  const schema = `bench_${Date.now()}`;
  const url = new URL(server);
  url.searchParams.set('schema', schema);
  const databaseUrl = url.toString();
  const admin = new pg.Client({ connectionString: server.toString() });
  await admin.connect();
  const version = (await admin.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
  const settings = (await admin.query<{ name: string; setting: string }>("SELECT name, setting FROM pg_settings WHERE name IN ('synchronous_commit', 'fsync', 'max_connections')")).rows
    .map((r) => `${r.name}=${r.setting}`)
    .join(', ');

  const folio = join(root, 'dist/cli/folio.js');
  const built = statSync(folio, { throwIfNoEntry: false })?.mtimeMs;
  if (built === undefined) throw new Error('dist/ is missing: run "npx tsc -p ." first');
  const source = Math.max(...['app.ts', 'server.ts', 'plugins', 'routes', 'schemas', 'db', 'cli', 'lib'].map((p) => newestSource(join(root, p))));
  if (source > built) process.stderr.write(`WARNING: dist/ is older than the sources (built ${new Date(built).toISOString()}): run "npx tsc -p ." for (b) to run this code\n`);

  const { ceiling, url: ceilingUrl } = await startCeiling();
  const config: Config = { ...loadConfig({}), databaseUrl, secret, logLevel: 'silent', demo: true, passwordCost: 10, loginRatePerIp: 100_000, ...unboundedStorage };
  const out: string[] = [];
  try {
    // (a) In this process, against the ceiling, as on SQLite.
    const { app, base, scenarios } = await prepare(config);
    const chosen = chosenScenarios(scenarios, ['answers-cookie', 'state', 'answers-students']);
    const table = await againstCeiling(base, scenarios, chosen, ceilingUrl);
    await app.close();
    const redacted = new URL(databaseUrl);
    if (redacted.password) redacted.password = '***';
    out.push(`PostgreSQL ${version} (${settings}) at ${redacted.toString()}`);
    out.push(`${machine}, ${connections} connections, ${duration} s each; load average before ${loadBefore}`, '');
    out.push('(a) In-process app on PostgreSQL (pool of 10), load generator in the same process', '', ...table, '');

    // (b) One, then two `folio serve` processes.
    const rows: (SplitResult & { round: number })[] = [];
    const problems: string[] = [];
    const plan = Array.from({ length: rounds }, (_, i) => [{ round: i + 1, processes: 1 }, { round: i + 1, processes: 2 }]).flat();
    for (const { round, processes } of plan) {
      const servers = await Promise.all(Array.from({ length: processes }, () => startServer(databaseUrl)));
      const pids = servers.map((s) => s.child.pid!);
      try {
        for (const key of chosen) {
          if (warmup > 0) await measureSplit(servers.map((s) => s.url), scenarios[key]!, warmup, pids);
          const r = { ...(await measureSplit(servers.map((s) => s.url), scenarios[key]!, duration, pids)), round };
          rows.push(r);
          process.stderr.write(
            `round ${round}, ${processes} process(es), ${r.name}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50} p99 ${r.p99}, statuses ${JSON.stringify(r.statuses)}, errors ${r.errors}; ` +
              `CPU servers ${r.cpu.servers.map(fmt).join('+')}, postgres ${fmt(r.cpu.postgres)}, bench ${fmt(r.cpu.loadGenerator)}, other ${fmt(r.cpu.other)}, machine ${fmt(r.cpu.machine)}\n`,
          );
          if (r.non2xx > 0 || r.errors > 0) {
            const logs = servers.flatMap((s) => s.logs).join('').trim().split('\n').slice(-20);
            problems.push(`round ${round}, ${processes} process(es), ${r.name}: statuses ${JSON.stringify(r.statuses)}, errors ${r.errors}; last server logs:\n${logs.join('\n')}`);
          }
        }
      } finally {
        await Promise.all(servers.map(stopServer));
      }
    }
    out.push(
      `(b) \`folio serve\` processes (dist/, pool of 10 each), ${connections} connections from two autocannon instances in the bench process, split evenly across the processes; ` +
        `${warmup} s of warm-up before each; ${rounds} round(s) of one then two processes; CPU in cores busy on average during the run (the machine has ${cpus().length})`,
      '',
      '| scenario | round | processes | req/s | p50 ms | p99 ms | non-2xx | errors | CPU servers | CPU postgres | CPU load generator | CPU other | CPU machine |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const r of rows) {
      const c = r.cpu;
      out.push(
        `| ${r.name} | ${r.round} | ${r.processes} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.non2xx} | ${r.errors} | ${c.servers.map(fmt).join(' + ')} | ${fmt(c.postgres)} | ${fmt(c.loadGenerator)} | ${fmt(c.other)} | ${fmt(c.machine)} |`,
      );
    }
    // Noise on a shared machine only ever takes throughput away: the best round of each is the least disturbed.
    out.push(
      '',
      `| scenario | 1 process req/s${rounds > 1 ? ' (rounds; best)' : ''} | 2 processes req/s${rounds > 1 ? ' (rounds; best)' : ''} | scaling (two / one) |`,
      '| --- | ---: | ---: | ---: |',
    );
    for (const key of chosen) {
      const name = scenarios[key]!.name;
      const of = (processes: number) => rows.filter((r) => r.name === name && r.processes === processes).map((r) => r.rps);
      const best = (rps: number[]) => Math.max(...rps);
      const cell = (rps: number[]) => (rps.length > 1 ? `${rps.map((x) => x.toFixed(0)).join(', ')}; **${best(rps).toFixed(0)}**` : best(rps).toFixed(0));
      out.push(`| ${name} | ${cell(of(1))} | ${cell(of(2))} | ${(best(of(2)) / best(of(1))).toFixed(2)} × |`);
    }
    out.push('', `Load average after: ${load()}`);
    if (problems.length > 0) out.push('', 'Non-2xx replies or errors:', ...problems);
    console.log(out.join('\n'));
  } finally {
    await ceiling.close();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  }
}

if (args.postgres) await runPostgres();
else await runSqlite();
