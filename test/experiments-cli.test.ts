import { sql } from 'drizzle-orm';
import { mkdirSync } from 'node:fs';
import t from 'tap';
import { createBook } from '../db/books.js';
import { openDatabase } from '../db/index.js';
import { createAccount } from '../db/users.js';
import { folio, testDatabaseUrl } from './helper.js';

/** `folio experiments …` against a database of the test's own: few child processes, several commands each. */

t.test('experiments add, list, report, stop and the assignments export from the command line, with --help and exit codes', async (t) => {
  const env = { FOLIO_DATABASE_URL: testDatabaseUrl(t), FOLIO_SECRET: 'a-test-secret-of-at-least-32-characters', FOLIO_PUBLIC_ORIGIN: 'https://folio.example.edu' };
  mkdirSync(t.testdirName, { recursive: true });
  t.equal((await folio(['migrate'], env)).code, 0);
  const db = await openDatabase(env.FOLIO_DATABASE_URL);
  t.teardown(() => db.close());
  await createBook(db, { id: 'b', title: 'B', origins: [] });
  const run = (...args: string[]) => folio(args, env);

  const help = await run('experiments', 'add', '--help');
  t.equal(help.code, 0);
  t.match(help.stdout, /--variants <list>[\s\S]*--course <course>[\s\S]*--consent-only/);
  t.match((await run('experiments', 'report', '--help')).stdout, /Welch's\s+t-test/);

  const added = await run('experiments', 'add', 'hints', '--book', 'b', '--variants', 'control,hint:3', '--consent-only', '--end', '2099-01-01');
  t.equal(added.code, 0, added.stderr);
  t.equal(added.stdout, 'experiment hints of book b (running): variants control:1,hint:3; for every student of the book who gave research consent, assigning from now to 2099-01-01T00:00:00.000Z; exposed: control 0, hint 0\n');
  const stored = await db.get<Record<string, unknown>>(sql`SELECT book_id, variants, salt, courses, consent_only, ends_at FROM experiments WHERE id = 'hints'`);
  t.match(stored, { book_id: 'b', variants: '[{"name":"control","weight":1},{"name":"hint","weight":3}]', salt: /^[0-9a-f]{32}$/, courses: null, consent_only: 1 });
  t.equal(Number(stored!.ends_at), Date.parse('2099-01-01'));

  const taken = await run('experiments', 'add', 'hints', '--book', 'b', '--variants', 'a,b');
  t.equal(taken.code, 1);
  t.match(taken.stderr, /an experiment "hints" exists already/);
  const oneVariant = await run('experiments', 'add', 'x', '--book', 'b', '--variants', 'a');
  t.equal(oneVariant.code, 2);
  t.match(oneVariant.stderr, /at least two variants/);
  const unknownCourse = await run('experiments', 'add', 'x', '--book', 'b', '--variants', 'a,b', '--course', 'nope');
  t.equal(unknownCourse.code, 1);
  t.match(unknownCourse.stderr, /there is no course "nope"/);

  // Two consenting students exposed on one page, one scoring, one completing.
  for (const [name, variant, score, complete] of [
    ['ada', 'control', 0.5, true],
    ['bob', 'hint', 1, false],
  ] as const) {
    const user = await createAccount(db, { username: name, passwordHash: null, researchConsent: true });
    await db.run(sql`INSERT INTO experiment_assignments (experiment_id, user_id, book_id, variant, page, exposed_at) VALUES ('hints', ${user.id}, 'b', ${variant}, 'ch1', 1790000000000)`);
    await db.run(sql`INSERT INTO answers (user_id, book_id, question, attempt, kind, answer, score, page, saved_at) VALUES (${user.id}, 'b', 'q1', 1, 'poll', '"x"', ${score}, 'ch1', 1790000001000)`);
    if (complete) await db.run(sql`INSERT INTO page_completions (user_id, book_id, page, completed_at) VALUES (${user.id}, 'b', 'ch1', 1790000002000)`);
  }

  const listed = await run('experiments', 'list', '--json');
  t.equal(listed.code, 0, listed.stderr);
  t.match(JSON.parse(listed.stdout), [{ id: 'hints', book: 'b', status: 'running', consentOnly: true, variants: [{ name: 'control', weight: 1, exposed: 1, consenting: 1 }, { name: 'hint', weight: 3, exposed: 1, consenting: 1 }] }]);
  t.notMatch(listed.stdout, /salt/);

  const report = await run('experiments', 'report', 'hints');
  t.equal(report.code, 0, report.stderr);
  t.match(report.stdout, /on page\(s\) ch1/);
  t.match(report.stdout, /control\s+1\s+1\s+0\.500\s+1\s+100\.0%/);
  t.match(report.stdout, /hint\s+1\s+1\s+1\.000\s+0\s+0\.0%/);
  t.match(report.stdout, /mean score: no test \(a group has fewer than two scored students/);
  t.match(report.stdout, /completion: two-proportion z-test \(pooled\), two-sided: z = -1\.414, p = 0\.1573/);
  t.match(report.stdout, /Welch's t-test assumes independent students/);
  t.equal((await run('experiments', 'report', 'nope')).code, 1);

  const stopped = await run('experiments', 'stop', 'hints');
  t.equal(stopped.code, 0, stopped.stderr);
  t.match(stopped.stdout, /experiment hints of book b \(stopped\)/);
  t.equal((await db.all(sql`SELECT user_id FROM experiment_assignments`)).length, 2, 'stopping keeps the assignments');

  const exported = await run('export', '--book', 'b', '--kind', 'assignments', '--format', 'csv');
  t.equal(exported.code, 0, exported.stderr);
  const [header, ...rows] = exported.stdout.split('\r\n').filter((l) => l !== '');
  t.equal(header, 'user,experiment,variant,page,replacedVariant,exposedAt,experiments.hints');
  t.ok(rows.every((r) => /^[0-9a-f]{16},/.test(r)), 'pseudonyms, no user ids');
  // Rows of one time come in the database's order of ids.
  t.same(rows.map((r) => r.slice(17)).sort(), ['hints,control,ch1,,2026-09-21T14:13:20.000Z,control', 'hints,hint,ch1,,2026-09-21T14:13:20.000Z,hint']);
  t.match(exported.stderr, /exported 2 assignments row\(s\) of 2 user\(s\)/);
});
