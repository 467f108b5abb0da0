/**
 * Research export benchmark (not a test): 1,000,000 generated events of consenting students (and 100,000 more
 * of students who did not consent, which the export must skip) in a temporary SQLite database, exported through
 * the code of `GET /api/books/:book/export` and `folio export`: once per format directly, and over real HTTP.
 * Each export runs in a fresh process on the built code (`bench/export-child.mjs` over `dist/`, what `folio
 * serve` runs), so that its time and peak RSS are its own.
 *
 *   npm run bench:export                  # builds, then 1,000,000 exported events
 *   npm run bench:export -- --rows 200000
 *
 * Goal: under 10 s and under 200 MB peak RSS.
 */
import { sql, type SQL } from 'drizzle-orm';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createBook } from '../db/books.js';
import { openDatabase } from '../db/index.js';
import { applyMigrations } from '../db/migrate.js';

const users = 1000;
/** One in ten users did not consent; their events come on top of the exported ones. */
const consents = (u: number) => u % 10 !== 9;

interface Result {
  path: 'direct' | 'http';
  format: 'jsonl' | 'csv' | 'xapi';
  rows: number | null;
  bytes: number;
  ms: number;
  cpuMs: number;
  peakRssMb: number;
  startRssMb: number;
}

/** `rows` events of consenting users, and a tenth as many of the others, in one transaction. */
async function generate(file: string, rows: number): Promise<number> {
  const db = await openDatabase(file);
  await applyMigrations(db);
  await createBook(db, { id: 'bench', title: 'Bench', origins: ['https://book.example'] });
  const now = Date.now();
  const types = ['run', 'hint', 'video:play', 'page:view', 'scroll'];
  const total = Math.round(rows / 0.9);
  const start = now - total * 10;
  // Multi-row INSERTs (500 events, 4,000 parameters, a statement: below both databases' limits), all in one write.
  const chunk = 500;
  // Each row an array: drizzle renders it as a parenthesised list of parameters.
  const insert = (head: SQL, rows: unknown[][]) => sql`${head} VALUES ${sql.join(rows.map((row) => sql`${row}`), sql`, `)}`;
  await db.write(async (tx) => {
    const people: unknown[][] = [];
    for (let u = 0; u < users; u++) people.push([`user-${u}`, `student${u}`, `student${u}`, 'student', consents(u) ? 1 : 0, 0, now, now]);
    people.push(['admin', 'admin', 'admin', 'admin', 0, 0, now, now]);
    await tx.run(insert(sql`INSERT INTO users (id, username, username_key, role, research_consent, anonymous, created_at, updated_at)`, people));
    const head = sql`INSERT INTO events (user_id, book_id, type, target, page, data, client_time, server_time)`;
    for (let i = 0; i < total; i += chunk) {
      const rows: unknown[][] = [];
      for (let j = i; j < Math.min(total, i + chunk); j++) {
        const at = start + j * 10;
        rows.push([`user-${j % users}`, 'bench', types[j % types.length], `ac${j % 50}`, `ch${j % 20}/s${j % 7}`, `{"ms":${j % 997},"ok":${j % 3 === 0}}`, at - 150, at]);
      }
      await tx.run(insert(head, rows));
    }
  });
  const exported = (await db.get<{ n: number }>(sql`SELECT count(*) AS n FROM events e JOIN users u ON u.id = e.user_id WHERE u.research_consent = 1`))!.n;
  await db.close();
  return exported;
}

/** The http client: another process, as curl or a browser would be; its time is the export's. */
async function download(url: string, token: string): Promise<{ bytes: number; ms: number }> {
  const proc = spawn(process.execPath, [join(import.meta.dirname, 'export-child.mjs'), '-', 'download', '-', url, token], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  if ((await new Promise<number | null>((resolve) => proc.once('exit', resolve))) !== 0) throw new Error(`downloading ${url} failed`);
  return JSON.parse(out) as { bytes: number; ms: number };
}

/** One export in a fresh process: it reads the stream itself (direct), or serves it to another (http). */
async function runChild(file: string, path: string, format: string): Promise<Result> {
  const proc = spawn(process.execPath, [join(import.meta.dirname, 'export-child.mjs'), file, path, format], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let waiting: ((line: string) => void) | undefined;
  createInterface({ input: proc.stdout }).on('line', (line) => (waiting ? waiting(line) : lines.push(line)));
  const nextLine = () => new Promise<string>((resolve) => (lines.length > 0 ? resolve(lines.shift()!) : (waiting = resolve)));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
  if (path === 'direct') proc.stdin.end();
  let served: { bytes: number; ms: number } | undefined;
  if (path === 'http') {
    const { url, token } = JSON.parse(await nextLine()) as { url: string; token: string };
    served = await download(url, token);
    waiting = undefined;
    proc.stdin.end();
  }
  const result = JSON.parse(await nextLine()) as Result;
  if ((await exited) !== 0) throw new Error(`the export process for ${path} ${format} failed`);
  return served ? { ...result, ...served } : result;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    console.log(`npm run bench:export [-- --rows N]: exports N generated events of consenting students (default 1,000,000, plus
10 % of students who did not consent) from a temporary SQLite database in every format, directly and over HTTP,
each in a fresh process on dist/; prints time, CPU time and peak RSS per export. Goal: under 10 s and 200 MB.`);
    return;
  }
  const rowsArg = args.indexOf('--rows');
  const rows = rowsArg >= 0 ? Number(args[rowsArg + 1]) : 1_000_000;
  const dir = mkdtempSync(join(tmpdir(), 'folio-bench-export-'));
  const file = join(dir, 'bench.db');
  try {
    const t0 = performance.now();
    const exported = await generate(file, rows);
    console.log(`generated ${exported.toLocaleString('en')} events of consenting users among ${Math.round(rows / 0.9).toLocaleString('en')} in ${Math.round(performance.now() - t0)} ms`);
    console.log(`node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, load average before: ${loadavg().map((l) => l.toFixed(2)).join(', ')}\n`);
    console.log('| path | format | rows | bytes | time | CPU time | peak RSS | RSS before |');
    console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const [path, format] of [['direct', 'jsonl'], ['direct', 'csv'], ['direct', 'xapi'], ['http', 'jsonl'], ['http', 'csv'], ['http', 'xapi']]) {
      const r = await runChild(file, path!, format!);
      if (r.rows !== null && r.rows !== exported) throw new Error(`${path} ${format}: exported ${r.rows} rows, expected ${exported}`);
      const mb = (n: number) => `${n.toFixed(1)} MB`;
      console.log(`| ${r.path} | ${r.format} | ${(r.rows ?? exported).toLocaleString('en')} | ${mb(r.bytes / 1e6)} | ${(r.ms / 1000).toFixed(2)} s | ${(r.cpuMs / 1000).toFixed(2)} s | ${mb(r.peakRssMb)} | ${mb(r.startRssMb)} |`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
