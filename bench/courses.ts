/**
 * Course reports benchmark (not a test), issue #20: a course of 1,000 students on a book whose table of contents has
 * 300 pages and 3,000 questions, in a temporary SQLite database, read through the real app (`app.inject`: routing, the
 * course access check, the queries, serialising the reply) as the course's instructor would. Every student answered a
 * good share of the questions (1-3 attempts), completed pages, saved programs, sent events; another course on the
 * same book has students of its own (the reports must not read them). Timed, median and p95 of `--runs`:
 * - the first page of the progress grid at the default limit (50 students);
 * - the whole grid walked with the cursor (every page, 1,000 students);
 * - a question's summary (a different question each run);
 * - every question's numbers (GET /api/courses/:course/questions, the dashboard's Questions screen);
 * - the overview's activity per day (GET …/activity) over the last 30 days and over 366 (every row of the book);
 * each for the course without dates and for the same students in a course with dates (the window's queries).
 *
 *   npm run bench:courses [-- --students 1000 --others 500 --runs 20] [-- --keep FILE]
 *
 * `--keep FILE` writes the generated database there and reuses it on the next run (generating takes a minute).
 * FOLIO_BENCH_PROFILE=1 also prints, for the grid's first page, the time of the query function alone (db/course-reports.ts)
 * and of JSON.stringify of its result.
 *
 * Goal: the grid under 300 ms, a question's statistics under 200 ms.
 */
import Database from 'better-sqlite3';
import { sql } from 'drizzle-orm';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildApp } from '../app.js';
import { createBook, importToc } from '../db/books.js';
import { addStaff, createCourse, enrol } from '../db/courses.js';
import { openDatabase } from '../db/index.js';
import { applyMigrations } from '../db/migrate.js';
import { createAccount } from '../db/users.js';
import { loadConfig } from '../lib/config.js';
import { hashPassword } from '../lib/passwords.js';
import type { StoredToc } from '../lib/toc.js';

const { values: args } = parseArgs({
  options: {
    students: { type: 'string', default: '1000' },
    others: { type: 'string', default: '500' },
    runs: { type: 'string', default: '20' },
    keep: { type: 'string' },
    postgres: { type: 'string' },
    only: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (args.help) {
  console.log(`npm run bench:courses [-- --students 1000 --others 500 --runs 20]: the course reports on SQLite, through the app as an
instructor: a course of --students students (plus --others in another course of the book) on a 300-page, 3,000-question
table of contents; the first page of the progress grid, the whole grid walked with the cursor, and a question's
summary, median and p95 of --runs (the walk: a quarter as many). --keep FILE keeps the generated database there and
reuses it next time. Goal: the grid under 300 ms, a summary under 200 ms.
--postgres URL (postgres://…?schema=name): the same on PostgreSQL; the SQLite file (--keep, or a new one) is copied
there first when that schema has no attempts yet, then ANALYZEd. --only questions: only the questions report (the whole
book, then each chapter with ?chapter=).`);
  process.exit(0);
}
const students = Number(args.students);
const others = Number(args.others);
const runs = Number(args.runs);

const chapters = 30;
const pagesPerChapter = 10;
const questionsPerPage = 10;
const kinds = ['mchoice', 'fitb', 'shortanswer', 'poll', 'parsons'] as const;
const pointsOf = [1, 2, 3, 0, 2];

/** A fixed sequence of random numbers (mulberry32): the same data every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pageId = (c: number, p: number) => `ch${c}/page-${p}`;
const questionId = (c: number, p: number, q: number) => `ch${c}-p${p}-q${q}`;

function tableOfContents(): StoredToc {
  return {
    chapters: Array.from({ length: chapters }, (_, c) => ({
      id: `ch${c}`,
      title: `Chapter ${c}`,
      pages: Array.from({ length: pagesPerChapter }, (_, p) => ({
        id: pageId(c, p),
        title: `Page ${c}.${p}`,
        questions: Array.from({ length: questionsPerPage }, (_, q) => ({ id: questionId(c, p, q), kind: kinds[q % kinds.length]!, points: pointsOf[q % kinds.length]! })),
        activities: [{ id: `ac-${c}-${p}` }],
      })),
    })),
  };
}

/** Every student's work, written straight into the file (better-sqlite3, one transaction): as Folio stores it, latest flags included. */
function generate(file: string, userIds: string[], start: number): { answers: number; completions: number; programs: number } {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  const answer = db.prepare(
    'INSERT INTO answers (user_id, book_id, question, attempt, kind, answer, correct, score, page, saved_at, latest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const completion = db.prepare('INSERT INTO page_completions (user_id, book_id, page, completed_at) VALUES (?, ?, ?, ?)');
  const program = db.prepare('INSERT INTO programs (user_id, book_id, activity, version, code, language, page, saved_at, latest, state_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
  const event = db.prepare('INSERT INTO events (user_id, book_id, type, target, page, data, client_time, server_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  const position = db.prepare('INSERT INTO positions (user_id, book_id, page, scroll, updated_at) VALUES (?, ?, ?, ?, ?)');
  const rand = random(20);
  const counts = { answers: 0, completions: 0, programs: 0 };
  const code = 'def solve(xs):\n    total = 0\n    for x in xs:\n        total += x * x\n    return total\n'.repeat(3);
  db.transaction(() => {
    for (const user of userIds) {
      // Each student works through the book over some 90 days, a page after another.
      let at = start + Math.floor(rand() * 86_400_000);
      const perPage = 90 * 86_400_000 / (chapters * pagesPerChapter);
      const reach = 0.5 + rand() * 0.5;
      for (let c = 0; c < chapters; c++) {
        for (let p = 0; p < pagesPerChapter; p++) {
          at += Math.floor(rand() * perPage);
          if (rand() > reach) continue;
          const page = pageId(c, p);
          for (let q = 0; q < questionsPerPage; q++) {
            if (rand() > 0.75) continue;
            const kind = kinds[q % kinds.length]!;
            const attempts = 1 + (rand() < 0.4 ? 1 : 0) + (rand() < 0.15 ? 1 : 0);
            for (let n = 1; n <= attempts; n++) {
              at += 1000 + Math.floor(rand() * 20_000);
              const right = n === attempts ? rand() < 0.75 : rand() < 0.2;
              const marked = kind === 'shortanswer' || kind === 'poll' ? null : right ? 1 : 0;
              const score = kind === 'fitb' ? (right ? 1 : Math.round(rand() * 10) / 10) : null;
              const value = kind === 'mchoice' || kind === 'poll' ? JSON.stringify([['a', 'b', 'c', 'd'][Math.floor(rand() * 4)]]) : kind === 'shortanswer' ? '"because it halts"' : '["x"]';
              answer.run(user, 'bench', questionId(c, p, q), n, kind, value, marked, score, page, at, n === attempts ? 1 : 0);
              counts.answers++;
            }
          }
          if (rand() < 0.5) {
            const versions = 1 + Math.floor(rand() * 3);
            for (let v = 1; v <= versions; v++) {
              at += 5000;
              program.run(user, 'bench', `ac-${c}-${p}`, v, code, 'python', page, at, v === versions ? 1 : 0, code.length + 120);
              counts.programs++;
            }
          }
          if (rand() < 0.85) {
            at += 2000;
            completion.run(user, 'bench', page, at);
            counts.completions++;
          }
          if (rand() < 0.1) event.run(user, 'bench', 'run', `ac-${c}-${p}`, page, '{"ok":true}', at - 150, at);
        }
      }
      position.run(user, 'bench', pageId(chapters - 1, 0), 100, at);
    }
  })();
  db.close();
  return counts;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(xs.length * 0.95) - 1)]!;

/** The database: accounts, the book, its table of contents and the courses through Folio's own functions, then the work. */
async function prepare(file: string): Promise<void> {
    const t0 = performance.now();
    const start = Date.UTC(2026, 8, 1);
    const setup = await openDatabase(file);
    await applyMigrations(setup);
    await createBook(setup, { id: 'bench', title: 'Bench', origins: ['https://book.example'] });
    await importToc(setup, 'bench', tableOfContents());
    const hash = await hashPassword('correct horse battery', 10);
    const ids: string[] = [];
    for (let i = 0; i < students + others; i++) ids.push((await createAccount(setup, { username: `student${i}`, passwordHash: hash })).id);
    const teacher = await createAccount(setup, { username: 'teacher', passwordHash: hash });
    await createCourse(setup, { id: 'c1', bookId: 'bench', title: 'The course' });
    await createCourse(setup, { id: 'c1-dated', bookId: 'bench', title: 'The course, with dates', startsAt: start + 7 * 86_400_000, endsAt: start + 60 * 86_400_000 });
    await createCourse(setup, { id: 'c2', bookId: 'bench', title: 'Another course' });
    for (const course of ['c1', 'c1-dated']) {
      await enrol(setup, course, ids.slice(0, students), 'staff');
      await addStaff(setup, course, teacher.id, 'instructor');
    }
    await enrol(setup, 'c2', ids.slice(students), 'staff');
    await setup.close();
    // No ANALYZE: Folio never runs it, so the queries must keep to their indexes without statistics.
    const counts = generate(file, ids, start);
    console.log(
      `generated ${students} + ${others} students: ${counts.answers.toLocaleString('en')} attempts, ${counts.completions.toLocaleString('en')} completions, ` +
        `${counts.programs.toLocaleString('en')} program versions in ${Math.round(performance.now() - t0)} ms`,
    );
}

/** Folio's tables in the order their foreign keys need (the others are empty in the bench's file). */
const copied = ['users', 'books', 'book_origins', 'book_tocs', 'courses', 'course_staff', 'enrolments', 'answers', 'programs', 'events', 'positions', 'page_completions'];

/**
 * The SQLite file's rows into an empty PostgreSQL schema (migrated here), 5,000 rows a statement as a JSON array of
 * rows (same column names in both dialects), then ANALYZE, as autovacuum would do on a live database.
 */
async function copyToPostgres(file: string, url: string): Promise<void> {
  const t0 = performance.now();
  const pg = await openDatabase(url);
  try {
    await applyMigrations(pg);
    const has = await pg.get<{ n: number }>(sql`SELECT COUNT(*)::int AS n FROM (SELECT 1 FROM answers LIMIT 1) a`);
    if (has!.n > 0) return;
    const lite = new Database(file, { readonly: true });
    for (const table of copied) {
      let batch: unknown[] = [];
      const flush = async () => {
        if (batch.length === 0) return;
        const rows = JSON.stringify(batch);
        batch = [];
        await pg.write((tx) => tx.run(sql`INSERT INTO ${sql.identifier(table)} SELECT * FROM json_populate_recordset(NULL::${sql.identifier(table)}, ${rows}::json) ON CONFLICT DO NOTHING`));
      };
      for (const row of lite.prepare(`SELECT * FROM ${table}`).iterate()) {
        batch.push(row);
        if (batch.length === 5000) await flush();
      }
      await flush();
    }
    lite.close();
    await pg.run(sql`ANALYZE`);
    console.log(`copied ${file} to PostgreSQL in ${Math.round(performance.now() - t0)} ms`);
  } finally {
    await pg.close();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'folio-bench-courses-'));
  const file = args.keep ?? join(dir, 'bench.db');
  try {
    if (args.keep === undefined || !existsSync(file)) await prepare(file);
    if (args.postgres !== undefined) await copyToPostgres(file, args.postgres);
    console.log(`node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, load average before: ${loadavg().map((l) => l.toFixed(2)).join(', ')}\n`);

    const app = await buildApp({ config: { ...loadConfig({}), databaseUrl: args.postgres ?? file, ...(args.postgres === undefined ? {} : { secret: 'bench-only secret, at least 32 characters long' }), demo: false, logLevel: 'silent', passwordCost: 10 }, migrate: false, logger: false });
    try {
      const login = await app.inject({ method: 'POST', url: '/api/auth/login', headers: { origin: 'https://book.example' }, payload: { username: 'teacher', password: 'correct horse battery', mode: 'token' } });
      if (login.statusCode !== 200) throw new Error(`login: ${login.statusCode} ${login.body}`);
      const headers = { authorization: `Bearer ${(login.json() as { token: string }).token}` };
      const get = async (url: string) => {
        const res = await app.inject({ method: 'GET', url, headers });
        if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body.slice(0, 300)}`);
        return res;
      };
      const time = async (n: number, once: (i: number) => Promise<unknown>) => {
        await once(0); // warm: statements prepared, serialisers built
        const ms: number[] = [];
        for (let i = 0; i < n; i++) {
          const t = performance.now();
          await once(i + 1);
          ms.push(performance.now() - t);
        }
        return ms;
      };
      console.log('| course | measure | runs | median | p95 | reply |');
      console.log('| --- | --- | ---: | ---: | ---: | ---: |');
      if (args.only === 'questions') {
        // The whole book, then the chapters one after another and the unlisted questions, as the Questions screen reads them.
        for (const course of ['c1', 'c1-dated']) {
          let bytes = 0;
          const whole = await time(Math.max(1, Math.round(runs / 4)), async () => (bytes = (await get(`/api/courses/${course}/questions`)).rawPayload.length));
          console.log(`| ${course} | every question, one request | ${whole.length} | ${median(whole).toFixed(1)} ms | ${p95(whole).toFixed(1)} ms | ${(bytes / 1024).toFixed(0)} KiB |`);
          const each: number[] = [];
          const walks = await time(Math.max(1, Math.round(runs / 4)), async () => {
            for (let c = 0; c < chapters; c++) {
              const t = performance.now();
              await get(`/api/courses/${course}/questions?chapter=ch${c}`);
              each.push(performance.now() - t);
            }
            await get(`/api/courses/${course}/questions?unlisted=true`);
          });
          console.log(`| ${course} | one chapter (${pagesPerChapter * questionsPerPage} questions) | ${each.length} | ${median(each).toFixed(1)} ms | ${p95(each).toFixed(1)} ms | |`);
          const unlisted = await time(Math.max(1, Math.round(runs / 4)), async () => get(`/api/courses/${course}/questions?unlisted=true`));
          console.log(`| ${course} | the unlisted questions | ${unlisted.length} | ${median(unlisted).toFixed(1)} ms | ${p95(unlisted).toFixed(1)} ms | |`);
          console.log(`| ${course} | every chapter then the unlisted, one after another | ${walks.length} | ${median(walks).toFixed(1)} ms | ${p95(walks).toFixed(1)} ms | |`);
        }
        return;
      }
      for (const course of ['c1', 'c1-dated']) {
        let bytes = 0;
        if (process.env.FOLIO_BENCH_PROFILE) {
          const { courseProgress } = await import('../db/course-reports.js');
          const { findCourse } = await import('../db/courses.js');
          const row = (await findCourse(app.db, course))!;
          for (let i = 0; i < 3; i++) {
            let t = performance.now();
            const page = await courseProgress(app.db, row, app.books.toc('bench'), { limit: 50, after: '' });
            const q = performance.now() - t;
            t = performance.now();
            const text = JSON.stringify(page);
            console.log(`db ${q.toFixed(1)} ms, stringify ${(performance.now() - t).toFixed(1)} ms, ${text.length} bytes`);
          }
        }
        const first = await time(runs, async () => (bytes = (await get(`/api/courses/${course}/progress`)).rawPayload.length));
        console.log(`| ${course} | progress grid, first page (50 students) | ${runs} | ${median(first).toFixed(1)} ms | ${p95(first).toFixed(1)} ms | ${(bytes / 1024).toFixed(0)} KiB |`);
        let seen = 0;
        const walks = Math.max(3, Math.round(runs / 4));
        const walk = await time(walks, async () => {
          seen = 0;
          bytes = 0;
          let after: string | null = null;
          do {
            const res = await get(`/api/courses/${course}/progress${after === null ? '' : `?after=${after}`}`);
            const body = res.json() as { students: unknown[]; next: string | null };
            seen += body.students.length;
            bytes += res.rawPayload.length;
            after = body.next;
          } while (after !== null);
        });
        if (seen !== students) throw new Error(`the walk saw ${seen} students, not ${students}`);
        console.log(`| ${course} | progress grid, every page (${students} students) | ${walks} | ${median(walk).toFixed(1)} ms | ${p95(walk).toFixed(1)} ms | ${(bytes / 1024).toFixed(0)} KiB |`);
        const summary = await time(runs, async (i) => {
          const c = (i * 7) % chapters;
          const res = await get(`/api/courses/${course}/questions/${questionId(c, i % pagesPerChapter, i % questionsPerPage)}/summary`);
          bytes = res.rawPayload.length;
        });
        console.log(`| ${course} | question summary | ${runs} | ${median(summary).toFixed(1)} ms | ${p95(summary).toFixed(1)} ms | ${bytes} B |`);
        const questions = await time(Math.max(3, Math.round(runs / 4)), async () => (bytes = (await get(`/api/courses/${course}/questions`)).rawPayload.length));
        console.log(`| ${course} | every question (${chapters * pagesPerChapter * questionsPerPage}) | ${questions.length} | ${median(questions).toFixed(1)} ms | ${p95(questions).toFixed(1)} ms | ${(bytes / 1024).toFixed(0)} KiB |`);
        for (const days of [30, 366]) {
          const activity = await time(runs, async () => (bytes = (await get(`/api/courses/${course}/activity?days=${days}`)).rawPayload.length));
          console.log(`| ${course} | activity per day, ${days} days | ${runs} | ${median(activity).toFixed(1)} ms | ${p95(activity).toFixed(1)} ms | ${bytes} B |`);
        }
      }
    } finally {
      await app.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
