/**
 * `npm test` after the build: the whole suite on SQLite and, at the same time, on PostgreSQL
 * (FOLIO_TEST_DATABASE=postgres, each test on a schema of its own) when the server at FOLIO_TEST_POSTGRES_URL
 * answers. Prints the SQLite run's output, then PostgreSQL's, and ends with the totals of both runs on one line:
 * `# { total: N, pass: N, fail: N }`.
 *
 *   npx tsx scripts/test.ts [--sqlite-only | --postgres-only] [tap args, e.g. test files]
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import pg from 'pg';

const postgresUrlDefault = 'postgres://postgres@127.0.0.1:5432/test';
const postgresUrl = process.env.FOLIO_TEST_POSTGRES_URL ?? postgresUrlDefault;
const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(`npx tsx scripts/test.ts [--sqlite-only | --postgres-only] [tap args, e.g. test files]   (npm test builds first)

Runs the suite on SQLite and, at the same time, on the PostgreSQL at FOLIO_TEST_POSTGRES_URL
(default ${postgresUrlDefault}) when it answers; FOLIO_TEST_REQUIRE_POSTGRES=1 fails the run when it does not.
Without Redis (FOLIO_TEST_REDIS_URL) or Debian's Chromium (FOLIO_TEST_CHROMIUM) their tests are skipped, each
with one line; FOLIO_TEST_REQUIRE_REDIS=1 / FOLIO_TEST_REQUIRE_CHROMIUM=1 fail the run instead (.ci/run sets all three).
Prints SQLite's output, then PostgreSQL's, then both runs' totals: # { total: N, pass: N, fail: N, skip: N }`);
  process.exit(0);
}
const only = args.find((a) => a === '--sqlite-only' || a === '--postgres-only');
const tapArgs = args.filter((a) => a !== only);

/**
 * Run once, on SQLite: files whose tests do not touch the database the suite runs on (the single binary always runs
 * SQLite), and the browser tests (test/e2e/), which test what Chromium does with Folio's headers, cookies and pages;
 * the API under them runs on both databases in the inject tests (test/*.test.ts).
 */
const dialectFree = ['test/cli-help.test.ts', 'test/binary.test.ts', 'test/bench-help.test.ts', 'test/session-signer.test.ts', 'test/schema.test.ts', 'test/client-types.test.ts', 'test/config.test.ts', 'test/origin.test.ts', 'test/secret.test.ts', 'test/migrate-data.test.ts', 'test/services.test.ts', 'test/client-experiments.test.ts'];
const runsOnce = (file: string) => dialectFree.includes(file) || file.startsWith('test/e2e/');

interface Totals {
  total: number;
  pass: number;
  fail: number;
  skip: number;
}

interface TapRun {
  /** Resolves once tap has printed its first line (it has built its test class, which a second run must not do at the same time). */
  started: Promise<void>;
  done: Promise<{ code: number; totals: Totals }>;
  /** Prints what the run buffered so far and everything after it as it comes. */
  show(): void;
}

/**
 * Runs tap on one database. Its output is held back until `show()`, so that two runs at once print one after the
 * other; tap's own summary line is renamed so that only the combined one at the end reads `# { total: … }`.
 */
function runTap(label: string, env: NodeJS.ProcessEnv, extra: string[]): TapRun {
  const child = spawn('npx', ['tap', ...extra], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const totals: Totals = { total: 0, pass: 0, fail: 0, skip: 0 };
  let held: string[] | undefined = [`\n=== tests on ${label} ===\n`];
  const print = (text: string) => (held ? held.push(text) : process.stdout.write(text));
  let started!: () => void;
  const run: TapRun = {
    started: new Promise((resolve) => (started = resolve)),
    done: new Promise((resolve) => {
      let tail = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        started();
        const lines = (tail + chunk).split('\n');
        tail = lines.pop()!;
        for (const line of lines) {
          const summary = /^# \{ total: (\d+)(.*)\}$/.exec(line);
          if (summary) {
            totals.total = Number(summary[1]);
            for (const key of ['pass', 'fail', 'skip'] as const) totals[key] = Number(new RegExp(`${key}: (\\d+)`).exec(summary[2]!)?.[1] ?? 0);
            print(`# ${label}: ${line.slice(2)}\n`);
          } else {
            print(`${line}\n`);
          }
        }
      });
      child.on('close', (code) => {
        started();
        if (tail) print(`${tail}\n`);
        resolve({ code: code ?? 1, totals });
      });
    }),
    show() {
      for (const text of held ?? []) process.stdout.write(text);
      held = undefined;
    },
  };
  return run;
}

/** Whether PostgreSQL answers, and (when it does) the schemas that killed test runs left behind (over 6 hours old) dropped. */
async function postgresReady(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    const cutoff = Math.floor(Date.now() / 1000) - 6 * 3600;
    const { rows } = await client.query<{ name: string }>(`SELECT nspname AS name FROM pg_namespace WHERE nspname ~ '^ft_[0-9]+_'`);
    for (const { name } of rows) if (Number(name.split('_')[1]) < cutoff) await client.query(`DROP SCHEMA "${name}" CASCADE`);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await client.end().catch(() => {});
  }
}

// The two runs go at once: much of the suite waits on child processes, sockets and the browser, and the
// databases keep them apart (a file per test on SQLite, a schema per test on PostgreSQL). SQLite's output comes first.
const runs: TapRun[] = [];
const failed: { code: number; totals: Totals }[] = [];
if (only !== '--postgres-only') runs.push(runTap('SQLite', { FOLIO_TEST_DATABASE: 'sqlite' }, tapArgs));
if (only !== '--sqlite-only') {
  const down = await postgresReady();
  if (down === undefined) {
    const files = readdirSync('test', { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.test.ts'))
      .map((f) => `test/${f}`)
      .filter((f) => !runsOnce(f))
      .sort();
    await runs[0]?.started;
    runs.push(runTap('PostgreSQL', { FOLIO_TEST_DATABASE: 'postgres', FOLIO_TEST_POSTGRES_URL: postgresUrl }, tapArgs.length > 0 ? tapArgs : files));
  } else if (process.env.FOLIO_TEST_REQUIRE_POSTGRES) {
    console.error(`\nPostgreSQL at ${postgresUrl} does not answer (${down}), and FOLIO_TEST_REQUIRE_POSTGRES is set: failed.`);
    failed.push({ code: 1, totals: { total: 1, pass: 0, fail: 1, skip: 0 } });
  } else {
    console.error(`\nPostgreSQL at ${postgresUrl} does not answer (${down}): the suite ran on SQLite only. Start PostgreSQL (pg_ctlcluster <version> main start) to run it on both.`);
  }
}
const results = [...failed];
for (const run of runs) {
  run.show();
  results.push(await run.done);
}

const sum = (key: keyof Totals) => results.reduce((n, r) => n + r.totals[key], 0);
console.log(`# { total: ${sum('total')}, pass: ${sum('pass')}, fail: ${sum('fail')}, skip: ${sum('skip')} }`);
process.exit(results.every((r) => r.code === 0) ? 0 : 1);
