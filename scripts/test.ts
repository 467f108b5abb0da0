/**
 * `npm test` after the build: the whole suite on SQLite, then again on PostgreSQL (FOLIO_TEST_DATABASE=postgres,
 * each test on a schema of its own) when the server at FOLIO_TEST_POSTGRES_URL answers. Ends with the totals of
 * both runs on one line: `# { total: N, pass: N, fail: N }`.
 *
 *   npx tsx scripts/test.ts [--sqlite-only | --postgres-only] [tap args, e.g. test files]
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import pg from 'pg';

const postgresUrl = process.env.FOLIO_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const args = process.argv.slice(2);
const only = args.find((a) => a === '--sqlite-only' || a === '--postgres-only');
const tapArgs = args.filter((a) => a !== only);

/** Files whose tests do not touch the database the suite runs on (the single binary always runs SQLite): run once. */
const dialectFree = ['test/binary.test.ts', 'test/schema.test.ts', 'test/client-types.test.ts', 'test/config.test.ts', 'test/origin.test.ts', 'test/secret.test.ts', 'test/migrate-data.test.ts'];

interface Totals {
  total: number;
  pass: number;
  fail: number;
  skip: number;
}

function runTap(label: string, env: NodeJS.ProcessEnv, extra: string[]): Promise<{ code: number; totals: Totals }> {
  console.error(`\n=== tests on ${label} ===`);
  return new Promise((resolve) => {
    const child = spawn('npx', ['tap', ...extra], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    const totals: Totals = { total: 0, pass: 0, fail: 0, skip: 0 };
    let tail = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      // tap's own summary line is renamed so that only the combined one below reads `# { total: … }`.
      const text = tail + chunk;
      const lines = text.split('\n');
      tail = lines.pop()!;
      for (const line of lines) {
        const summary = /^# \{ total: (\d+)(.*)\}$/.exec(line);
        if (summary) {
          totals.total = Number(summary[1]);
          for (const key of ['pass', 'fail', 'skip'] as const) totals[key] = Number(new RegExp(`${key}: (\\d+)`).exec(summary[2]!)?.[1] ?? 0);
          process.stdout.write(`# ${label}: ${line.slice(2)}\n`);
        } else {
          process.stdout.write(`${line}\n`);
        }
      }
    });
    child.on('close', (code) => {
      if (tail) process.stdout.write(tail);
      resolve({ code: code ?? 1, totals });
    });
  });
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

const runs: { code: number; totals: Totals }[] = [];
if (only !== '--postgres-only') runs.push(await runTap('SQLite', { FOLIO_TEST_DATABASE: 'sqlite' }, tapArgs));
if (only !== '--sqlite-only') {
  const down = await postgresReady();
  if (down === undefined) {
    const files = readdirSync('test', { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.test.ts'))
      .map((f) => `test/${f}`)
      .filter((f) => !dialectFree.includes(f))
      .sort();
    runs.push(await runTap('PostgreSQL', { FOLIO_TEST_DATABASE: 'postgres', FOLIO_TEST_POSTGRES_URL: postgresUrl }, tapArgs.length > 0 ? tapArgs : files));
  } else if (process.env.FOLIO_TEST_REQUIRE_POSTGRES) {
    console.error(`\nPostgreSQL at ${postgresUrl} does not answer (${down}), and FOLIO_TEST_REQUIRE_POSTGRES is set: failed.`);
    runs.push({ code: 1, totals: { total: 1, pass: 0, fail: 1, skip: 0 } });
  } else {
    console.error(`\nPostgreSQL at ${postgresUrl} does not answer (${down}): the suite ran on SQLite only. Start PostgreSQL (pg_ctlcluster <version> main start) to run it on both.`);
  }
}

const sum = (key: keyof Totals) => runs.reduce((n, r) => n + r.totals[key], 0);
console.log(`# { total: ${sum('total')}, pass: ${sum('pass')}, fail: ${sum('fail')}, skip: ${sum('skip')} }`);
process.exit(runs.every((r) => r.code === 0) ? 0 : 1);
