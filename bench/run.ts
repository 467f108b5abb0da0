/**
 * The benchmark suite (not a test): each scenario against the real app, next to a ceiling — a bare Fastify GET
 * route returning a small JSON object — measured in the same run, in alternating slices, two ways:
 *
 * - in-process: the app, the ceiling and the load generator (autocannon) all in this process;
 * - separate processes, as a client measures: autocannon in a process of its own (bench/client.mjs), against the
 *   built `folio serve` (`node dist/cli/folio.js serve`: build first, `npm run build`) and against the bare route
 *   in a process of its own (bench/bare.mjs). The load generator's cost is then in neither server.
 *
 *   npm run build && npm run bench     # all scenarios on SQLite, 10 s each, both ways
 *   npm run bench -- --duration 5 --only answers-cookie,state
 *   npm run bench -- --mode in-process  # only the first way (no build needed)
 *   npm run bench -- --slices 1         # one ceiling measurement, then the scenario (no alternating)
 *
 * On PostgreSQL (issue #9), in fresh schemas `bench_<time>` (and `bench_<time>_served`) dropped at the end:
 *
 *   npm run bench -- --postgres [postgres://postgres@127.0.0.1:5432/test] [--duration 8] [--rounds 3]
 *
 * runs scenarios 1 and 3, and 1b (scenario 1 with a student per connection; --only picks others), (a) both ways
 * against their ceilings as on SQLite, and (b) against one and then two real `folio serve` processes (dist/) on
 * that database, the same 50 connections split evenly across them, with the CPU each party used during the run.
 */
import { sql, type SQL } from 'drizzle-orm';
import autocannon from 'autocannon';
import Fastify, { type FastifyInstance } from 'fastify';
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { buildApp } from '../app.js';
import { openDatabase, type Database } from '../db/index.js';
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
    /** in-process, separate (processes) or both. */
    mode: { type: 'string', default: 'both' },
    /** Separate processes: the served Folio writes a V8 CPU profile into this directory when it stops. */
    'cpu-prof': { type: 'string' },
    /** Separate processes: serve the build (dist/) of this tree instead of this one's (an earlier commit's worktree). */
    'server-root': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  allowPositionals: true,
});
if (args.help) {
  console.log(`npm run bench -- [options]: each scenario against the real app, next to a bare Fastify GET ceiling,
measured two ways in alternating slices: in-process (app, ceiling and autocannon in one process) and in separate
processes as a client measures (autocannon in a process of its own against \`node dist/cli/folio.js serve\` and
against the bare route in another process: run \`npm run build\` first); prints both ratios for each scenario

  --mode M          both (default), in-process or separate
  --duration S      seconds per scenario and per ceiling (default 10)
  --slices N        measure each in N alternating slices of S/N seconds (default 10: a shared VM's speed moves
                    2-3x within seconds, and short slices put ceiling and scenario in the same moments)
  --connections N   autocannon connections (default 50)
  --only A,B        scenarios by name: answers-cookie, answers-bearer, state, events, programs, answers-students (1b)
  --postgres [URL]  run on PostgreSQL in schemas of their own (default postgres://postgres@127.0.0.1:5432/test),
                    then also against one and two folio serve processes (build first)
  --warmup S        unmeasured seconds before each measurement: of the scenario and of the ceiling, each way,
                    and on fresh processes (PostgreSQL) (default 2)
  --rounds N        PostgreSQL: measure one, then two processes N times (default 1)
  --cpu-prof DIR    separate processes: each served Folio writes a V8 CPU profile (.cpuprofile) into DIR
  --server-root DIR separate processes: serve DIR/dist/cli/folio.js (another tree's build, e.g. a worktree of an
                    earlier commit, built there) instead of this tree's; the scenarios are set up the same way

Results go to stdout as Markdown tables; bench/RESULTS.md keeps them with the command that produced them.`);
  process.exit(0);
}
const cpuProfileDir = args['cpu-prof'];
const modes = { both: ['in-process', 'separate'], 'in-process': ['in-process'], separate: ['separate'] } as const;
if (!Object.hasOwn(modes, args.mode)) {
  console.error(`--mode: "${args.mode}" is none of both, in-process, separate`);
  process.exit(2);
}
const ways: readonly Way[] = modes[args.mode as keyof typeof modes];
const duration = Number(args.duration);
const slices = Math.max(1, Number(args.slices));
const connections = Number(args.connections);
const warmup = Number(args.warmup);
const rounds = Number(args.rounds);
const root = join(import.meta.dirname, '..');
/** The tree whose build is served in separate processes. */
const serverRoot = args['server-root'] === undefined ? root : resolve(args['server-root']);
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
  /** Cores the rest of the machine kept busy meanwhile: neither the measured parties nor PostgreSQL (other work on a shared machine). */
  otherCpu: number;
  /** Separate processes: cores the server and the load generator kept busy (NaN in-process: both are this process). */
  serverCpu: number;
  loadGeneratorCpu: number;
}

/** One scenario: a request that autocannon repeats on every connection. */
interface Scenario {
  name: string;
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Each connection takes the next of these headers instead (e.g. a student of its own). */
  connectionHeaders?: Record<string, string>[];
}

/** One autocannon run, as plain data: what bench/client.mjs receives. */
interface Load {
  url: string;
  connections: number;
  duration: number;
  method?: Scenario['method'];
  headers?: Record<string, string>;
  body?: string;
  connectionHeaders?: Record<string, string>[];
}

/** What one run gives back (latencies in ms, unsorted). */
interface Run {
  requests: number;
  average: number;
  seconds: number;
  non2xx: number;
  errors: number;
  statuses: Record<string, number>;
  latencies: number[];
}

/** Runs a load: autocannon in this process, or in the load generator's process. */
type LoadGenerator = (load: Load) => Promise<Run>;

/** autocannon in this process. */
const inProcess: LoadGenerator = (load) =>
  new Promise((resolve, reject) => {
    const latencies: number[] = [];
    const statuses: Record<string, number> = {};
    let next = 0;
    const { connectionHeaders: each, ...options } = load;
    const instance = autocannon(
      { ...options, ...(each ? { setupClient: (client: autocannon.Client) => client.setHeaders(each[next++ % each.length]!) } : {}) },
      (err: unknown, r: autocannon.Result) =>
        err ? reject(err as Error) : resolve({ requests: r.requests.total, average: r.requests.average, seconds: r.duration, non2xx: r.non2xx, errors: r.errors + r.timeouts, statuses, latencies }),
    );
    instance.on('response', (_client: autocannon.Client, status: number, _bytes: number, ms: number) => {
      latencies.push(ms);
      statuses[status] = (statuses[status] ?? 0) + 1;
    });
  });

/** The processes whose CPU a separate-process measurement reports. */
interface Pids {
  server: number;
  loadGenerator: number;
}

async function measure(name: string, generator: LoadGenerator, load: Load, pids?: Pids): Promise<Result> {
  const start = cpuMark(pids ? [pids.server, pids.loadGenerator] : []);
  const r = await generator(load);
  const cpu = cpuSince(start, pids ? [pids.server, pids.loadGenerator] : []);
  const sorted = Float64Array.from(r.latencies).sort();
  return {
    name,
    rps: r.average,
    requests: r.requests,
    seconds: r.seconds,
    latencies: sorted,
    p50: Math.round(percentile(sorted, 50)),
    p99: Math.round(percentile(sorted, 99)),
    worstSliceP99: Math.round(percentile(sorted, 99)),
    non2xx: r.non2xx,
    errors: r.errors,
    otherCpu: cpu.other,
    serverCpu: cpu.servers[0] ?? NaN,
    loadGeneratorCpu: cpu.servers[1] ?? NaN,
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
  const averaged = (cores: (p: Result) => number) => parts.reduce((n, p) => n + cores(p) * p.seconds, 0) / seconds;
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
    otherCpu: averaged((p) => p.otherCpu),
    serverCpu: averaged((p) => p.serverCpu),
    loadGeneratorCpu: averaged((p) => p.loadGeneratorCpu),
  };
}

/** A scenario's request as a load on `base`. */
function scenarioLoad(base: string, s: Scenario, seconds: number, clients = connections): Load {
  return {
    url: `${base}${s.path}`,
    connections: clients,
    duration: seconds,
    method: s.method,
    headers: s.headers,
    ...(s.body === undefined ? {} : { body: s.body }),
    ...(s.connectionHeaders ? { connectionHeaders: s.connectionHeaders } : {}),
  };
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

/**
 * The scenarios on the app at `base` (migrated, demo book), set up through its API as a client would: the bench
 * student, its token, 50 more students; the seeded rows go straight into `db`, the app's database.
 */
async function prepare(base: string, db: Database): Promise<Record<string, Scenario>> {
  const password = 'correct horse battery';
  const reg = await call(base, 'POST', '/api/auth/register', { username: 'bench', password });
  const cookie = reg.headers.get('set-cookie')!.split(';')[0]!;
  const { token } = (await (await call(base, 'POST', '/api/auth/login', { username: 'bench', password, mode: 'token' })).json()) as { token: string };
  const students: string[] = [];
  for (let i = 0; i < 50; i++) students.push((await call(base, 'POST', '/api/auth/register', { username: `student${i}`, password })).headers.get('set-cookie')!.split(';')[0]!);
  const { id: userId } = (await db.get<{ id: string }>(sql`SELECT id FROM users WHERE username = 'bench'`))!;
  const t0 = performance.now();
  await seedStudent(db, userId);
  const state = (await (await call(base, 'GET', '/api/books/demo/state?page=bench/page', undefined, { cookie })).json()) as { programs: object; answers: object };
  process.stderr.write(
    `seeded 10,000 rows in ${Math.round(performance.now() - t0)} ms; page state: ${Object.keys(state.answers).length} questions, ${Object.keys(state.programs).length} programs\n`,
  );
  if (Object.keys(state.answers).length !== 100 || Object.keys(state.programs).length !== 10) throw new Error('the seeded page state is not 100 questions and 10 programs');

  const json = { origin, 'content-type': 'application/json' };
  const answer = JSON.stringify({ kind: 'mchoice', answer: ['b'], correct: true, page: 'ch1' });
  return {
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
      connectionHeaders: students.map((student) => ({ ...json, cookie: student })),
    },
  };
}

/** The real app in this process, listening, with its scenarios. */
async function prepareInProcess(config: Config): Promise<{ app: FastifyInstance; base: string; scenarios: Record<string, Scenario> }> {
  const app = await buildApp({ config, migrate: true, logger: false });
  const base = await listen(app);
  return { app, base, scenarios: await prepare(base, app.db) };
}

/** `folio serve` on `databaseUrl` (migrated, demo book) in a process of its own, with its scenarios; the seeded rows go in through a connection of this process. */
async function prepareServed(databaseUrl: string): Promise<{ server: ServerProcess; scenarios: Record<string, Scenario> }> {
  const server = await startServer(databaseUrl, ['--migrate']);
  const db = openDatabase(databaseUrl, { poolSize: 2 });
  try {
    return { server, scenarios: await prepare(server.url, db) };
  } catch (err) {
    await stopServer(server);
    throw err;
  } finally {
    await db.close();
  }
}

type Way = 'in-process' | 'separate';

/** One way of measuring: its load generator, its ceiling, the app with its scenarios, and (separate) the processes whose CPU it reports. */
interface Bench {
  way: Way;
  generator: LoadGenerator;
  ceilingName: string;
  ceilingUrl: string;
  base: string;
  databaseUrl: string;
  scenarios: Record<string, Scenario>;
  pids?: { app: number; ceiling: number; loadGenerator: number };
  close(): Promise<void>;
}

/** The app, the ceiling and autocannon, all in this process. */
async function inProcessBench(config: Config): Promise<Bench> {
  const ceiling = Fastify({ logger: false });
  ceiling.get('/ceiling', async () => ({ hello: 'world', n: 1 }));
  const ceilingUrl = `${await listen(ceiling)}/ceiling`;
  const { app, base, scenarios } = await prepareInProcess(config);
  const close = async () => {
    await app.close();
    await ceiling.close();
  };
  return { way: 'in-process', generator: inProcess, ceilingName: 'ceiling: bare Fastify GET', ceilingUrl, base, databaseUrl: config.databaseUrl, scenarios, close };
}

/** `folio serve`, the bare route and autocannon, each a process of its own. */
async function separateBench(databaseUrl: string): Promise<Bench> {
  const bare = await startBare();
  const { server, scenarios } = await prepareServed(databaseUrl).catch(async (err: unknown) => {
    await stopServer(bare);
    throw err;
  });
  const client = startLoadGenerator();
  const close = async () => {
    await Promise.all([stopServer(server), stopServer(bare), stopServer(client)]);
  };
  return {
    way: 'separate',
    generator: client.run,
    ceilingName: 'ceiling: bare Fastify GET, a process of its own',
    ceilingUrl: `${bare.url}/ceiling`,
    base: server.url,
    databaseUrl,
    scenarios,
    pids: { app: server.child.pid!, ceiling: bare.child.pid!, loadGenerator: client.child.pid! },
    close,
  };
}

/**
 * One scenario against the ceiling, the two measured in alternating slices (ceiling, scenario, ceiling, …) so that
 * a shared machine's slower and faster moments fall on both alike.
 */
async function againstCeiling(b: Bench, key: string): Promise<[ceiling: Result, scenario: Result]> {
  const s = b.scenarios[key]!;
  const ceiling = (seconds: number) => measure(b.ceilingName, b.generator, { url: b.ceilingUrl, connections, duration: seconds }, b.pids && { server: b.pids.ceiling, loadGenerator: b.pids.loadGenerator });
  const scenario = (seconds: number) => measure(s.name, b.generator, scenarioLoad(b.base, s, seconds), b.pids && { server: b.pids.app, loadGenerator: b.pids.loadGenerator });
  // Both warm (JIT, caches) before anything counts, as a server is after its first seconds.
  if (warmup > 0) {
    await ceiling(warmup);
    await scenario(warmup);
  }
  const tops: Result[] = [];
  const parts: Result[] = [];
  for (let i = 0; i < slices; i++) {
    const top = await ceiling(duration / slices);
    const part = await scenario(duration / slices);
    tops.push(top);
    parts.push(part);
    process.stderr.write(`  ${b.way} slice ${i + 1}/${slices}: ceiling ${top.rps.toFixed(0)} req/s (p99 ${top.p99} ms), scenario ${part.rps.toFixed(0)} req/s (p50 ${part.p50}, p99 ${part.p99} ms)\n`);
  }
  const top = combine(tops);
  const r = combine(parts);
  const cpu = b.pids ? `, CPU server ${fmt(top.serverCpu)}/${fmt(r.serverCpu)}, load generator ${fmt(top.loadGeneratorCpu)}/${fmt(r.loadGeneratorCpu)}` : '';
  process.stderr.write(
    `${b.way}, ${r.name}: ${r.rps.toFixed(0)} req/s (${((r.rps / top.rps) * 100).toFixed(1)} % of ${top.rps.toFixed(0)}), non-2xx ${r.non2xx}, errors ${r.errors}, other CPU ${fmt(top.otherCpu)}/${fmt(r.otherCpu)}${cpu}\n`,
  );
  return [top, r];
}

/** A Markdown table of each scenario after its ceiling; separate processes add the CPU of the server and the load generator. */
function ceilingTable(pairs: [Result, Result][], separate: boolean): string[] {
  const cpuHead = separate ? ' CPU server | CPU load generator |' : '';
  const lines = [
    `| scenario | req/s | p50 ms | p99 ms | p99 ms, worst slice | % of ceiling | non-2xx | errors |${cpuHead} CPU other |`,
    `| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |${separate ? ' ---: | ---: |' : ''} ---: |`,
  ];
  const row = (r: Result, percent: string) =>
    `| ${r.name} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.worstSliceP99} | ${percent} | ${r.non2xx} | ${r.errors} |${separate ? ` ${fmt(r.serverCpu)} | ${fmt(r.loadGeneratorCpu)} |` : ''} ${fmt(r.otherCpu)} |`;
  for (const [top, r] of pairs) lines.push(row(top, '100'), row(r, ((r.rps / top.rps) * 100).toFixed(1)));
  return lines;
}

const headings: Record<Way, string> = {
  'in-process': 'In-process: the app, the ceiling and the load generator (autocannon) in this process',
  separate:
    'Separate processes: autocannon in a process of its own (bench/client.mjs) against `node dist/cli/folio.js serve` (FOLIO_LOG_LEVEL=warn) ' +
    'and against the bare route in a process of its own (bench/bare.mjs, no logger); CPU in cores busy on average',
};

/**
 * Each chosen scenario against its ceiling, every way in turn (the ways of one scenario minutes apart at most): a
 * table per way and, when there are both, one line per scenario with both ratios.
 */
async function compare(benches: Bench[], chosen: string[]): Promise<string[]> {
  const pairs = new Map<Way, [Result, Result][]>(benches.map((b) => [b.way, []]));
  for (const key of chosen) for (const b of benches) pairs.get(b.way)!.push(await againstCeiling(b, key));
  const out: string[] = [];
  for (const b of benches) out.push(headings[b.way], '', ...ceilingTable(pairs.get(b.way)!, b.way === 'separate'), '');
  const [inside, apart] = [pairs.get('in-process'), pairs.get('separate')];
  if (inside && apart) {
    out.push(
      'Both ways (ratio: req/s over the ceiling\'s, measured in the slices between)',
      '',
      '| scenario | in-process req/s | p50 ms | p99 ms | ceiling req/s | ratio | separate req/s | p50 ms | p99 ms | bare route req/s | ratio |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    inside.forEach(([top, r], i) => {
      const [bare, s] = apart[i]!;
      out.push(
        `| ${r.name} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${top.rps.toFixed(0)} | ${(r.rps / top.rps).toFixed(2)} | ${s.rps.toFixed(0)} | ${s.p50} | ${s.p99} | ${bare.rps.toFixed(0)} | ${(s.rps / bare.rps).toFixed(2)} |`,
      );
    });
    out.push('');
  }
  return out;
}

function chosenScenarios(all: Record<string, Scenario>, defaults: string[]): string[] {
  const chosen = args.only ? args.only.split(',') : defaults;
  for (const key of chosen) if (!all[key]) throw new Error(`no scenario "${key}" (there are ${Object.keys(all).join(', ')})`);
  return chosen;
}

const machine = `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`;
const load = () => loadavg().map((l) => l.toFixed(2)).join(', ');
const loadBefore = load();

/** Both ways on `databaseUrl` and `servedUrl` (each its own database), as --mode asks. */
async function startBenches(config: Config, servedUrl: string): Promise<Bench[]> {
  const benches: Bench[] = [];
  try {
    if (ways.includes('in-process')) benches.push(await inProcessBench(config));
    if (ways.includes('separate')) {
      checkBuilt();
      benches.push(await separateBench(servedUrl));
    }
  } catch (err) {
    for (const b of benches) await b.close();
    throw err;
  }
  return benches;
}

async function runSqlite(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'folio-bench-'));
  atExit.push(() => rmSync(dir, { recursive: true, force: true }));
  const config = { ...loadConfig({}), databaseUrl: join(dir, 'folio.db'), logLevel: 'silent' as const, demo: true, passwordCost: 10, loginRatePerIp: 100_000, ...unboundedStorage };
  const benches = await startBenches(config, join(dir, 'served.db'));
  try {
    const chosen = chosenScenarios(benches[0]!.scenarios, ['answers-cookie', 'answers-bearer', 'state', 'events', 'programs']);
    const out = await compare(benches, chosen);
    console.log(
      [`SQLite: ${machine}, ${connections} connections, ${duration} s each in ${slices} slices alternating with the ceiling after ${warmup} s of warm-up of each; load average before ${loadBefore}, after ${load()}`, '', ...out].join('\n'),
    );
  } finally {
    for (const b of benches) await b.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Processes: `folio serve`, the bare route, the load generator

interface ServerProcess {
  child: ChildProcess;
  url: string;
  logs: string[];
}

/** Children still running when the bench ends however it ends (an error, Ctrl-C) are stopped, and temporary files removed. */
const children = new Set<ChildProcess>();
const atExit: (() => void)[] = [];
process.once('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  for (const cleanUp of atExit) cleanUp();
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

/** This environment without FOLIO_* or NODE_OPTIONS (tsx's loader stays out of the measured processes). */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('FOLIO_') || name === 'NODE_OPTIONS') delete env[name];
  return { ...env, ...extra };
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

/** `node script ...args` as a server on 127.0.0.1:`port`, once `readyPath` answers 200. */
async function spawnServer(label: string, script: string, args: string[], port: number, env: NodeJS.ProcessEnv, readyPath: string): Promise<ServerProcess> {
  const profile = label === 'folio serve' && cpuProfileDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfileDir}`] : [];
  const child = spawn(process.execPath, [...profile, script, ...args], { cwd: label === 'folio serve' ? serverRoot : root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const logs: string[] = [];
  child.stdout!.setEncoding('utf8').on('data', (c: string) => logs.push(c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => logs.push(c));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${label} exited with ${child.exitCode}:\n${logs.join('')}`);
    try {
      if ((await fetch(`${url}${readyPath}`)).ok) return { child, url, logs };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      throw new Error(`${label} did not answer within 30 s:\n${logs.join('')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The built `folio serve` as a process of its own (no FOLIO_* or NODE_OPTIONS of ours), once it answers /healthz. */
async function startServer(databaseUrl: string, flags = ['--no-demo']): Promise<ServerProcess> {
  const port = await freePort();
  const env = childEnv({
    FOLIO_DATABASE_URL: databaseUrl,
    FOLIO_SECRET: secret,
    FOLIO_LOG_LEVEL: 'warn',
    // The setup registers 51 students from one address: as in the in-process app.
    FOLIO_PASSWORD_COST: '10',
    FOLIO_LOGIN_RATE_PER_IP: '100000',
    FOLIO_QUOTA_VERSIONS: String(unboundedStorage.quotaVersions),
    FOLIO_QUOTA_EVENTS: String(unboundedStorage.quotaEvents),
    FOLIO_QUOTA_BYTES: String(unboundedStorage.quotaBytes),
  });
  return spawnServer('folio serve', join(serverRoot, 'dist/cli/folio.js'), ['serve', '--port', String(port), ...flags], port, env, '/healthz');
}

/** The ceiling as a process of its own (bench/bare.mjs). */
async function startBare(): Promise<ServerProcess> {
  const port = await freePort();
  return spawnServer('bench/bare.mjs', join(import.meta.dirname, 'bare.mjs'), [String(port)], port, childEnv(), '/ceiling');
}

async function stopServer(server: { child: ChildProcess }): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGTERM');
  await exited;
}

/** autocannon in a process of its own (bench/client.mjs, plain node), one load at a time. */
function startLoadGenerator(): { child: ChildProcess; run: LoadGenerator } {
  const child = fork(join(import.meta.dirname, 'client.mjs'), [], { cwd: root, env: childEnv(), execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const run: LoadGenerator = (load) =>
    new Promise((resolve, reject) => {
      const exited = (code: number | null) => reject(new Error(`the load generator (bench/client.mjs) exited with ${code}`));
      child.once('exit', exited);
      child.once('message', (m: Run | { error: string }) => {
        child.off('exit', exited);
        if ('error' in m) reject(new Error(`load generator: ${m.error}`));
        else resolve(m);
      });
      child.send(load);
    });
  return { child, run };
}

/** The newest modification time under the app's source folders, to tell a stale dist/ from a fresh one. */
function newestSource(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return path.endsWith('.ts') ? stat.mtimeMs : 0;
  return Math.max(0, ...readdirSync(path).map((name) => newestSource(join(path, name))));
}

/** Throws unless dist/ holds `folio serve`; warns when it is older than the sources. */
function checkBuilt(): void {
  const built = statSync(join(serverRoot, 'dist/cli/folio.js'), { throwIfNoEntry: false })?.mtimeMs;
  if (built === undefined) throw new Error(`${join(serverRoot, 'dist')} is missing: run "npm run build" there first (or --mode in-process)`);
  const source = Math.max(...['app.ts', 'server.ts', 'plugins', 'routes', 'schemas', 'db', 'cli', 'lib'].map((p) => newestSource(join(serverRoot, p))));
  if (source > built) process.stderr.write(`WARNING: dist/ is older than the sources (built ${new Date(built).toISOString()}): run "npm run build" to measure this code\n`);
}

// ---------------------------------------------------------------------------------------------------------------
// PostgreSQL

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
  const start = cpuMark(pids);
  const runs = await Promise.all(
    Array.from({ length: instances }, (_, i) => inProcess(scenarioLoad(bases[i % bases.length]!, s, seconds, Math.floor(connections / instances) + (i < connections % instances ? 1 : 0)))),
  );
  const cpu = cpuSince(start, pids);
  const sorted = Float64Array.from(runs.flatMap((r) => r.latencies)).sort();
  const statuses: Record<string, number> = {};
  for (const r of runs) for (const [status, n] of Object.entries(r.statuses)) statuses[status] = (statuses[status] ?? 0) + n;
  return {
    name: s.name,
    processes: bases.length,
    rps: runs.reduce((sum, r) => sum + r.average, 0),
    requests: runs.reduce((sum, r) => sum + r.requests, 0),
    seconds,
    latencies: sorted,
    p50: Math.round(percentile(sorted, 50)),
    p99: Math.round(percentile(sorted, 99)),
    worstSliceP99: Math.round(percentile(sorted, 99)),
    non2xx: runs.reduce((sum, r) => sum + r.non2xx, 0),
    errors: runs.reduce((sum, r) => sum + r.errors, 0),
    statuses,
    cpu,
    otherCpu: cpu.other,
    serverCpu: cpu.servers.reduce((a, b) => a + b, 0),
    loadGeneratorCpu: cpu.loadGenerator,
  };
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

  checkBuilt();
  const served = new URL(url);
  served.searchParams.set('schema', `${schema}_served`);
  const config: Config = { ...loadConfig({}), databaseUrl, secret, logLevel: 'silent', demo: true, passwordCost: 10, loginRatePerIp: 100_000, ...unboundedStorage };
  const out: string[] = [];
  const benches = await startBenches(config, served.toString());
  try {
    // (a) Against the ceiling, as on SQLite: in this process, and in separate processes (a schema of their own).
    const chosen = chosenScenarios(benches[0]!.scenarios, ['answers-cookie', 'state', 'answers-students']);
    const compared = await compare(benches, chosen);
    // (b) runs on the first way's schema, with its students; the processes of (a) are stopped first.
    const { scenarios } = benches[0]!;
    const prepared = benches[0]!.databaseUrl;
    for (const b of benches.splice(0)) await b.close();
    const redacted = new URL(databaseUrl);
    if (redacted.password) redacted.password = '***';
    out.push(`PostgreSQL ${version} (${settings}) at ${redacted.toString()}`);
    out.push(`${machine}, ${connections} connections, ${duration} s each; load average before ${loadBefore}`, '');
    out.push('(a) The app on PostgreSQL (pool of 10) against its ceiling', '', ...compared);

    // (b) One, then two `folio serve` processes.
    const rows: (SplitResult & { round: number })[] = [];
    const problems: string[] = [];
    const plan = Array.from({ length: rounds }, (_, i) => [{ round: i + 1, processes: 1 }, { round: i + 1, processes: 2 }]).flat();
    for (const { round, processes } of plan) {
      const servers = await Promise.all(Array.from({ length: processes }, () => startServer(prepared)));
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
    for (const b of benches) await b.close();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}_served" CASCADE`);
    await admin.end();
  }
}

if (args.postgres) await runPostgres();
else await runSqlite();
