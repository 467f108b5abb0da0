import type { FastifyInstance } from 'fastify';
import { createHmac, hkdfSync } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { get } from 'node:http';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import t, { type Test } from 'tap';
import { buildApp } from '../app.js';
import { runExport } from '../cli/export.js';
import { addBookOrigin, createBook } from '../db/books.js';
import { exportRowsSql, openExport, type ExportRequest } from '../db/exports.js';
import { csvField, csvRecord } from '../lib/csv.js';
import { pseudonym } from '../lib/pseudonym.js';
import { parseInstant } from '../lib/time.js';
import { nameBasedUuid } from '../lib/xapi.js';
import type { Config } from '../lib/config.js';
import type { PostgresDatabase } from '../db/postgres.js';
import type { SqliteDatabase } from '../db/sqlite.js';
import { bookOrigin, build, folio, fromBook, migratedDatabaseUrl, otherBookOrigin, testConfig, testDialect } from './helper.js';
import { expectStatus, loginAs, student } from './staff.js';

const secret = 'a-test-secret-of-at-least-32-characters';
const T = Date.parse('2026-09-01T08:00:00.000Z');
const at = (ms: number) => new Date(T + ms).toISOString();
/**
 * The pseudonym as the README words it, computed here independently of lib/pseudonym.ts: HMAC-SHA256 with the book's
 * key, HKDF-SHA256(secret, salt "folio", info "folio pseudonyms v1 book:" + book), of "user:" + id, cut to 16 hex digits.
 */
const hmac16 = (id: string, book = 'book', key = secret) =>
  createHmac('sha256', Buffer.from(hkdfSync('sha256', key, 'folio', `folio pseudonyms v1 book:${book}`, 32))).update(`user:${id}`).digest('hex').slice(0, 16);

/**
 * A class in `book`: ursula (consenting, with a name and an email) and victor (consenting) answered; walter (no
 * consent) answered and logged an event; an anonymous visitor logged an event; yolanda (consenting) worked in
 * `other`. Every time is then fixed: answers at T+1 s, T+2 s…, events at T+10 s…, programs T+20 s…, completions T+30 s.
 * (Usernames have letters that no hex pseudonym holds.)
 */
async function classroom(app: FastifyInstance) {
  const ursula = await student(app, 'ursula', { researchConsent: true, name: 'Ursula K. Le Guin', email: 'ursula@example.org' });
  const victor = await student(app, 'victor', { researchConsent: true });
  const walter = await student(app, 'walter', { researchConsent: false, name: 'Walter W.', email: 'walter@example.org' });
  const yolanda = await student(app, 'yolanda', { researchConsent: true });
  const post = (h: Record<string, string>, url: string, payload: unknown, status = 201) => expectStatus(app, status, 'POST', url, h, payload);
  await post(ursula.headers, '/api/books/book/answers/q1', { kind: 'shortanswer', answer: 'a, "quoted"\nline two', correct: true, score: 1, page: 'ch1/intro' });
  await post(ursula.headers, '/api/books/book/answers/q2', { kind: 'fitb', answer: ['x,y', 'say "hi"'], page: 'ch1/intro' });
  await post(victor.headers, '/api/books/book/answers/q3', { kind: 'mchoice', answer: ['b', 'c'], correct: false, score: 0, page: 'ch2' });
  await post(walter.headers, '/api/books/book/answers/q1', { kind: 'shortanswer', answer: 'no consent' });
  await post(ursula.headers, '/api/books/book/events', { events: [{ type: 'run', target: 'ac1', page: 'ch1/intro', data: { ms: 12, out: 'a,"b"' }, clientTime: T }] }, 202);
  await post(walter.headers, '/api/books/book/events', { events: [{ type: 'run' }] }, 202);
  await post(fromBook, '/api/books/book/events', { events: [{ type: 'pagehide' }] }, 202);
  await expectStatus(app, 200, 'PUT', '/api/books/book/programs/ac1', ursula.headers, { code: 'print("a, b")\nprint(2)\n', language: 'python', page: 'ch1/intro' });
  await expectStatus(app, 200, 'PUT', '/api/books/book/pages/complete', ursula.headers, { page: 'ch1/intro', complete: true });
  await post({ origin: otherBookOrigin, cookie: yolanda.headers.cookie }, '/api/books/other/answers/q1', { kind: 'poll', answer: 'x' });
  await app.db.run(sql`UPDATE answers SET saved_at = CAST(${T} AS BIGINT) + 1000 * id`);
  await app.db.run(sql`UPDATE events SET server_time = CAST(${T} AS BIGINT) + 10000 + 1000 * id`);
  await app.db.run(sql`UPDATE programs SET saved_at = CAST(${T} AS BIGINT) + 20000 + 1000 * id`);
  await app.db.run(sql`UPDATE page_completions SET completed_at = CAST(${T} AS BIGINT) + 30000`);
  return { ursula, victor, walter, yolanda };
}

/** The app with a known secret, its log lines kept for reading. */
async function buildLogged(t: Test, overrides: Partial<Config> = {}) {
  const lines: string[] = [];
  const app = await buildApp({ config: testConfig(t, { secret, ...overrides, databaseUrl: overrides.databaseUrl ?? (await migratedDatabaseUrl(t)) }), migrate: true, logger: { level: 'info', stream: { write: (line: string) => lines.push(line) } } });
  t.teardown(() => app.close());
  await createBook(app.db, { id: 'book', title: 'A book', origins: [bookOrigin] });
  await createBook(app.db, { id: 'other', title: 'Another book', origins: [otherBookOrigin] });
  await app.books.refresh();
  return { app, logs: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** An export ends just before its own millisecond (a row saved in it belongs to the next export): tests export after the clock moved on. */
const tick = () => new Promise((resolve) => setTimeout(resolve, 2));

async function setUp(t: Test, overrides: Partial<Config> = {}) {
  const app = await build(t, { secret, ...overrides });
  const people = await classroom(app);
  const researcher = await loginAs(app, 'rita', 'researcher');
  const admin = await loginAs(app, 'root', 'admin');
  const exportOf = async (query: string, headers: Record<string, string> = researcher.headers) => {
    await tick();
    return app.inject({ method: 'GET', url: `/api/books/book/export?${query}`, headers });
  };
  return { app, ...people, researcher, admin, exportOf };
}

const lines = (body: string) => body.split('\n').filter((l) => l !== '');
const jsonLines = (body: string) => lines(body).map((l) => JSON.parse(l) as Record<string, unknown>);

/** A strict RFC 4180 reader (CRLF between records, quotes only around whole fields), to read back what the export wrote. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; ) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') [field, i] = [`${field}"`, i + 2];
      else if (c === '"') [quoted, i] = [false, i + 1];
      else [field, i] = [field + c, i + 1];
    } else if (c === '"' && field === '') [quoted, i] = [true, i + 1];
    else if (c === ',') [record, field, i] = [[...record, field], '', i + 1];
    else if (c === '\r' && text[i + 1] === '\n') [records[records.length], record, field, i] = [[...record, field], [], '', i + 2];
    else if (c === '"' || c === '\r' || c === '\n') throw new Error(`a bare ${JSON.stringify(c)} at ${i}`);
    else [field, i] = [field + c, i + 1];
  }
  if (quoted || field !== '' || record.length > 0) throw new Error('the last record does not end with CRLF');
  return records;
}

t.test('jsonl: a first line {"meta": …}, then one object per row of consenting users, oldest first', async (t) => {
  const { ursula, victor, exportOf } = await setUp(t);
  const res = await exportOf('kind=answers&format=jsonl');
  t.equal(res.statusCode, 200);
  const [meta, ...rows] = jsonLines(res.body);
  t.same(meta, {
    meta: {
      book: 'book',
      kind: 'answers',
      format: 'jsonl',
      since: null,
      until: res.headers['x-folio-export-until'],
      pseudonymised: true,
      users: 2,
      excludedUsers: 1,
      generatedAt: (meta!.meta as { generatedAt: string }).generatedAt,
    },
  });
  t.same(rows, [
    { id: 1, user: hmac16(ursula.id), question: 'q1', attempt: 1, kind: 'shortanswer', answer: 'a, "quoted"\nline two', correct: true, score: 1, page: 'ch1/intro', savedAt: at(1000) },
    { id: 2, user: hmac16(ursula.id), question: 'q2', attempt: 1, kind: 'fitb', answer: ['x,y', 'say "hi"'], correct: null, score: null, page: 'ch1/intro', savedAt: at(2000) },
    { id: 3, user: hmac16(victor.id), question: 'q3', attempt: 1, kind: 'mchoice', answer: ['b', 'c'], correct: false, score: 0, page: 'ch2', savedAt: at(3000) },
  ]);
});

t.test('every kind exports the rows of the book only: events, answers, programs and completed pages', async (t) => {
  const { ursula, exportOf } = await setUp(t);
  const rows = async (kind: string) => jsonLines((await exportOf(`kind=${kind}`)).body).slice(1);
  t.same(await rows('events'), [
    { id: 1, user: hmac16(ursula.id), type: 'run', target: 'ac1', page: 'ch1/intro', data: { ms: 12, out: 'a,"b"' }, clientTime: at(0), serverTime: at(11000) },
  ]);
  t.same(await rows('programs'), [
    { id: 1, user: hmac16(ursula.id), activity: 'ac1', version: 1, language: 'python', page: 'ch1/intro', code: 'print("a, b")\nprint(2)\n', savedAt: at(21000) },
  ]);
  t.same(await rows('completions'), [{ user: hmac16(ursula.id), page: 'ch1/intro', completedAt: at(30000) }]);
  t.equal((await rows('answers')).length, 3, 'not yolanda\'s answer in the other book');
});

t.test('users left out for want of research consent are counted in the meta line and in X-Folio-Excluded-Users, in every format', async (t) => {
  const { exportOf } = await setUp(t);
  for (const format of ['jsonl', 'csv', 'xapi']) {
    // events: ursula is in; walter (no consent) and the anonymous visitor (never asked) are left out.
    const res = await exportOf(`kind=events&format=${format}`);
    t.equal(res.headers['x-folio-export-users'], '1', format);
    t.equal(res.headers['x-folio-excluded-users'], '2', format);
    if (format === 'jsonl') t.match(jsonLines(res.body)[0], { meta: { users: 1, excludedUsers: 2 } });
  }
  const programs = await exportOf('kind=programs');
  t.equal(programs.headers['x-folio-excluded-users'], '0');
});

t.test('research consent is off by default, and withdrawing it leaves the user out of the next export', async (t) => {
  const { app, ursula, exportOf } = await setUp(t);
  const quiet = await student(app, 'quentin');
  await expectStatus(app, 201, 'POST', '/api/books/book/answers/q9', quiet.headers, { kind: 'poll', answer: 'a' });
  t.equal((await exportOf('kind=answers')).headers['x-folio-excluded-users'], '2', 'walter and quentin, who never said yes');
  const patch = await app.inject({ method: 'PATCH', url: '/api/auth/me', headers: ursula.headers, payload: { researchConsent: false } });
  t.equal(patch.statusCode, 200);
  const after = await exportOf('kind=answers');
  t.equal(after.headers['x-folio-excluded-users'], '3');
  t.notOk(after.body.includes(hmac16(ursula.id)));
  t.same(jsonLines(after.body).slice(1).map((r) => r.question), ['q3']);
});

t.test('pseudonyms are HMAC-SHA256 of "user:" + id with a key derived for the book from FOLIO_SECRET, cut to 16 hex digits, the same in every kind and format', async (t) => {
  const { ursula, exportOf } = await setUp(t);
  const expected = hmac16(ursula.id);
  t.match(expected, /^[0-9a-f]{16}$/);
  t.equal(pseudonym(secret, 'book', ursula.id), expected);
  t.not(pseudonym('another-secret-of-at-least-32-characters', 'book', ursula.id), expected, 'another server, other pseudonyms');
  for (const kind of ['events', 'answers', 'programs', 'completions']) {
    for (const format of ['jsonl', 'csv', 'xapi']) {
      const res = await exportOf(`kind=${kind}&format=${format}`);
      t.ok(res.body.includes(expected), `${kind} ${format}`);
    }
  }
  const again = jsonLines((await exportOf('kind=answers')).body)[1]!;
  t.equal(again.user, expected, 'the same in a second export');
});

t.test('a pseudonym is no longer HMAC-SHA256(FOLIO_SECRET, "user:" + id): the cookie-signing secret does not key it', async (t) => {
  const { ursula, exportOf } = await setUp(t);
  const keyedBySecret = createHmac('sha256', secret).update(`user:${ursula.id}`).digest('hex').slice(0, 16);
  const [, row] = jsonLines((await exportOf('kind=answers')).body);
  t.equal(row!.user, hmac16(ursula.id));
  t.not(row!.user, keyedBySecret);
  for (const format of ['jsonl', 'csv', 'xapi']) t.notOk((await exportOf(`kind=answers&format=${format}`)).body.includes(keyedBySecret), format);
});

t.test('the same student has one pseudonym in a book and another in another book: exports of two books cannot be joined', async (t) => {
  const { app, ursula, yolanda, researcher } = await setUp(t);
  const inOther = { origin: otherBookOrigin, cookie: ursula.headers.cookie! };
  await expectStatus(app, 201, 'POST', '/api/books/other/answers/q9', inOther, { kind: 'poll', answer: 'y' });
  const usersOf = async (book: string) => {
    await tick();
    const res = await app.inject({ method: 'GET', url: `/api/books/${book}/export?kind=answers`, headers: researcher.headers });
    return jsonLines(res.body).slice(1).map((r) => r.user as string);
  };
  const inBook = await usersOf('book');
  const inOtherBook = await usersOf('other');
  t.ok(inBook.includes(hmac16(ursula.id, 'book')));
  t.ok(inOtherBook.includes(hmac16(ursula.id, 'other')));
  t.not(hmac16(ursula.id, 'book'), hmac16(ursula.id, 'other'), 'two books, two pseudonyms');
  t.equal(inBook.filter((u) => inOtherBook.includes(u)).length, 0, 'no pseudonym of one book appears in the other');
  t.ok(inOtherBook.includes(hmac16(yolanda.id, 'other')));
  t.same(await usersOf('book'), inBook, 'the same book exported again: the same pseudonyms');
  t.equal(pseudonym(secret, 'other', ursula.id), hmac16(ursula.id, 'other'));
});

t.test('no export holds a username, name, email or user id unless an admin asks for identify=true', async (t) => {
  const { ursula, victor, walter, exportOf, admin } = await setUp(t);
  const secrets = ['ursula', 'Ursula K. Le Guin', 'ursula@example.org', ursula.id, 'victor', victor.id, 'walter', walter.id];
  for (const headers of [undefined, admin.headers]) {
    for (const kind of ['events', 'answers', 'programs', 'completions']) {
      for (const format of ['jsonl', 'csv', 'xapi']) {
        const res = await exportOf(`kind=${kind}&format=${format}`, headers);
        t.equal(res.statusCode, 200);
        for (const s of secrets) t.notOk(res.body.includes(s), `${kind} ${format} holds ${s}`);
      }
    }
  }
});

t.test('identify=true gives admins user ids, usernames, names and emails next to the pseudonyms, and logs who asked', async (t) => {
  const { app, logs } = await buildLogged(t);
  const { ursula } = await classroom(app);
  const admin = await loginAs(app, 'root', 'admin');
  const res = await app.inject({ method: 'GET', url: '/api/books/book/export?kind=completions&identify=true', headers: admin.headers });
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-disposition'], /^attachment; filename="book-completions-identified-\d{8}T\d{6}Z\.jsonl"$/);
  const [meta, row] = jsonLines(res.body);
  t.match(meta, { meta: { pseudonymised: false } });
  t.same(row, { user: hmac16(ursula.id), userId: ursula.id, username: 'ursula', name: 'Ursula K. Le Guin', email: 'ursula@example.org', page: 'ch1/intro', completedAt: at(30000) });
  const csv = await app.inject({ method: 'GET', url: '/api/books/book/export?kind=completions&format=csv&identify=true', headers: admin.headers });
  t.equal(lines(csv.body)[0], 'user,userId,username,name,email,page,completedAt\r');
  const xapi = await app.inject({ method: 'GET', url: '/api/books/book/export?kind=completions&format=xapi&identify=true', headers: admin.headers });
  t.same(JSON.parse(xapi.body).actor, { objectType: 'Agent', name: 'Ursula K. Le Guin', account: { homePage: 'http://localhost:80', name: 'ursula' } });
  const audit = logs().filter((l) => l.msg === 'research export with identities (identify=true)');
  t.equal(audit.length, 3);
  t.match(audit[0], { level: 40, by: 'root', userId: admin.id, role: 'admin', book: 'book', kind: 'completions', format: 'jsonl', identify: true });
  t.equal(logs().filter((l) => l.msg === 'research export').length, 0, 'only exports with identities are logged as such');
});

t.test('identify=true from a researcher is a 403, logged as nothing and exporting nothing', async (t) => {
  const { app, logs } = await buildLogged(t);
  await classroom(app);
  const researcher = await loginAs(app, 'rita', 'researcher');
  const res = await app.inject({ method: 'GET', url: '/api/books/book/export?kind=answers&identify=true', headers: researcher.headers });
  t.equal(res.statusCode, 403);
  t.same(res.json(), { statusCode: 403, error: 'forbidden', message: 'identify=true needs the admin role: researchers get pseudonymised exports' });
  t.equal(logs().filter((l) => typeof l.msg === 'string' && l.msg.startsWith('research export')).length, 0);
  const plain = await app.inject({ method: 'GET', url: '/api/books/book/export?kind=answers', headers: researcher.headers });
  t.equal(plain.statusCode, 200);
  t.match(logs().find((l) => l.msg === 'research export'), { level: 30, by: 'rita', role: 'researcher', kind: 'answers' });
});

t.test('csv: a header row, CRLF line ends, and fields with commas, quotes or newlines quoted as RFC 4180 says', async (t) => {
  const { ursula, victor, exportOf } = await setUp(t);
  const res = await exportOf('kind=answers&format=csv');
  t.equal(res.statusCode, 200);
  t.equal(res.headers['content-type'], 'text/csv; charset=utf-8');
  const [u, v] = [hmac16(ursula.id), hmac16(victor.id)];
  t.equal(
    res.body,
    'id,user,question,attempt,kind,answer,correct,score,page,savedAt\r\n' +
      `1,${u},q1,1,shortanswer,"a, ""quoted""\nline two",true,1,ch1/intro,${at(1000)}\r\n` +
      `2,${u},q2,1,fitb,"[""x,y"",""say \\""hi\\""""]",,,ch1/intro,${at(2000)}\r\n` +
      `3,${v},q3,1,mchoice,"[""b"",""c""]",false,0,ch2,${at(3000)}\r\n`,
  );
  t.same(parseCsv(res.body), [
    ['id', 'user', 'question', 'attempt', 'kind', 'answer', 'correct', 'score', 'page', 'savedAt'],
    ['1', u, 'q1', '1', 'shortanswer', 'a, "quoted"\nline two', 'true', '1', 'ch1/intro', at(1000)],
    ['2', u, 'q2', '1', 'fitb', '["x,y","say \\"hi\\""]', '', '', 'ch1/intro', at(2000)],
    ['3', v, 'q3', '1', 'mchoice', '["b","c"]', 'false', '0', 'ch2', at(3000)],
  ]);
});

t.test('csv keeps a program\'s code, newlines and all, in one field, and event data as JSON text', async (t) => {
  const { ursula, exportOf } = await setUp(t);
  const programs = parseCsv((await exportOf('kind=programs&format=csv')).body);
  t.same(programs, [
    ['id', 'user', 'activity', 'version', 'language', 'page', 'code', 'savedAt'],
    ['1', hmac16(ursula.id), 'ac1', '1', 'python', 'ch1/intro', 'print("a, b")\nprint(2)\n', at(21000)],
  ]);
  const events = parseCsv((await exportOf('kind=events&format=csv')).body);
  t.same(events[1], ['1', hmac16(ursula.id), 'run', 'ac1', 'ch1/intro', '{"ms":12,"out":"a,\\"b\\""}', at(0), at(11000)]);
});

t.test('csv fields: null is empty, the empty string is "", and only commas, quotes, CR and LF need quotes', async (t) => {
  t.equal(csvField(null), '');
  t.equal(csvField(''), '""');
  t.equal(csvField('plain text; with: punctuation'), 'plain text; with: punctuation');
  t.equal(csvField('a,b'), '"a,b"');
  t.equal(csvField('say "hi"'), '"say ""hi"""');
  t.equal(csvField('one\ntwo'), '"one\ntwo"');
  t.equal(csvField('one\rtwo'), '"one\rtwo"');
  t.equal(csvField(12.5), '12.5');
  t.equal(csvField(false), 'false');
  t.equal(csvRecord(['a', null, 'b,c']), 'a,,"b,c"\r\n');
});

t.test('a resumed export: since = the previous export\'s until gives exactly what came after, nothing twice and nothing missed', async (t) => {
  const { app, ursula, exportOf } = await setUp(t);
  (await app.db.run(sql`UPDATE events SET server_time = ${Date.now() - 60_000} WHERE id = 1`));
  const first = await exportOf('kind=events');
  const until = first.headers['x-folio-export-until'] as string;
  t.equal((jsonLines(first.body)[0]!.meta as { until: string }).until, until);
  t.ok(Math.abs(Date.parse(until) - Date.now()) < 5000, 'until defaults to now');
  for (let i = 0; i < 3; i++) {
    await expectStatus(app, 202, 'POST', '/api/books/book/events', ursula.headers, { events: [{ type: `later-${i}` }, { type: `later-${i}b` }] });
  }
  const resumed = await exportOf(`kind=events&since=${encodeURIComponent(until)}`);
  t.equal(resumed.statusCode, 200);
  t.match(jsonLines(resumed.body)[0], { meta: { since: until } });
  const ids = (body: string) => jsonLines(body).slice(1).map((r) => r.id as number);
  t.same(resumed.body.includes('"type":"run"'), false, 'the first export\'s row is not repeated');
  t.same(jsonLines(resumed.body).slice(1).map((r) => r.type), ['later-0', 'later-0b', 'later-1', 'later-1b', 'later-2', 'later-2b']);
  const whole = await exportOf('kind=events');
  t.same([...ids(first.body), ...ids(resumed.body)], ids(whole.body), 'the two exports together are the whole');
});

t.test('since is inclusive and until exclusive, in server time; a date means midnight UTC', async (t) => {
  const { exportOf } = await setUp(t);
  // answers are at T+1 s, T+2 s and T+3 s.
  const questions = async (query: string) => jsonLines((await exportOf(`kind=answers&${query}`)).body).slice(1).map((r) => r.question);
  t.same(await questions(`since=${encodeURIComponent(at(2000))}`), ['q2', 'q3']);
  t.same(await questions(`until=${encodeURIComponent(at(2000))}`), ['q1']);
  t.same(await questions(`since=${encodeURIComponent(at(2000))}&until=${encodeURIComponent(at(3000))}`), ['q2']);
  t.same(await questions('since=2026-09-01T10:00:02%2B02:00'), ['q2', 'q3'], 'an offset is honoured');
  t.same(await questions('since=2026-09-01'), ['q1', 'q2', 'q3']);
  t.same(await questions('until=2026-09-01'), []);
  const meta = jsonLines((await exportOf('kind=answers&since=2026-09-01&until=2026-09-02')).body)[0]!.meta;
  t.match(meta, { since: '2026-09-01T00:00:00.000Z', until: '2026-09-02T00:00:00.000Z' }, 'an until in the past is kept');
});

t.test('a bad since, until, kind, format or identify is a 400 naming the parameter', async (t) => {
  const { exportOf } = await setUp(t);
  const cases: [string, string][] = [
    ['since=yesterday', 'querystring/since must match pattern'],
    ['since=2026-13-01', 'querystring/since is not a real date or time: 2026-13-01'],
    ['until=2026-02-30', 'querystring/until is not a real date or time: 2026-02-30'],
    ['since=2026-09-02&until=2026-09-01', 'querystring/since must not be after querystring/until'],
    ['kind=grades', 'querystring/kind must be equal to one of the allowed values'],
    ['format=xlsx', 'querystring/format must be equal to one of the allowed values'],
    ['identify=maybe', 'querystring/identify must be boolean'],
    ['limit=10', 'querystring must NOT have additional properties'],
  ];
  for (const [query, message] of cases) {
    const res = await exportOf(query);
    t.equal(res.statusCode, 400, query);
    t.equal(res.json().error, 'invalid_request', query);
    t.match(res.json().message, message, query);
  }
  t.equal(parseInstant('2026-09-01T08:00Z'), T);
  t.equal(parseInstant('2026-02-29'), undefined, 'not a leap year');
});

t.test('each format has its Content-Type, and every export is an attachment named after book, kind and until, never cached', async (t) => {
  const { exportOf } = await setUp(t);
  for (const [format, type, extension] of [
    ['jsonl', 'application/x-ndjson', 'jsonl'],
    ['csv', 'text/csv; charset=utf-8', 'csv'],
    ['xapi', 'application/x-ndjson', 'xapi.jsonl'],
  ] as const) {
    const res = await exportOf(`kind=answers&format=${format}&until=2026-09-02T10:20:30.456Z`);
    t.equal(res.headers['content-type'], type, format);
    t.equal(res.headers['content-disposition'], `attachment; filename="book-answers-20260902T102030Z.${extension}"`, format);
    t.equal(res.headers['cache-control'], 'no-store', format);
    t.equal(res.headers['x-folio-export-until'], '2026-09-02T10:20:30.456Z', format);
  }
});

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const iriPattern = /^[a-z][a-z0-9+.-]*:[^\s]+$/i;
const irlPattern = /^https?:\/\/[^\s/]+/;
const timestampPattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const interactionTypes = ['true-false', 'choice', 'fill-in', 'long-fill-in', 'matching', 'performance', 'sequencing', 'likert', 'numeric', 'other'];
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** What xAPI 1.0.3 requires of a statement an activity provider sends; returns the violations. */
function xapiViolations(s: Record<string, unknown>): string[] {
  const errors: string[] = [];
  const check = (ok: boolean, what: string) => ok || errors.push(what);
  for (const key of Object.keys(s)) check(['id', 'actor', 'verb', 'object', 'result', 'context', 'timestamp'].includes(key), `property ${key} is not one a provider sets`);
  check(typeof s.id === 'string' && uuidPattern.test(s.id), 'id must be an RFC 4122 UUID');
  const actor = s.actor;
  if (!isObject(actor)) errors.push('actor is required');
  else {
    check(actor.objectType === 'Agent', 'actor.objectType must be Agent');
    const ifis = ['mbox', 'mbox_sha1sum', 'openid', 'account'].filter((k) => k in actor);
    check(ifis.length === 1, 'an Agent has exactly one inverse functional identifier');
    const account = actor.account;
    check(isObject(account) && typeof account.homePage === 'string' && irlPattern.test(account.homePage) && typeof account.name === 'string' && account.name !== '', 'actor.account needs homePage (IRL) and name');
    check(actor.name === undefined || typeof actor.name === 'string', 'actor.name is a string');
  }
  const verb = s.verb;
  check(isObject(verb) && typeof verb.id === 'string' && iriPattern.test(verb.id), 'verb.id must be an IRI');
  check(isObject(verb) && isObject(verb.display) && Object.values(verb.display).every((v) => typeof v === 'string'), 'verb.display is a language map');
  const object = s.object;
  if (!isObject(object)) errors.push('object is required');
  else {
    check(object.objectType === undefined || object.objectType === 'Activity', 'object is an Activity');
    check(typeof object.id === 'string' && iriPattern.test(object.id), 'object.id must be an IRI');
    const definition = object.definition;
    if (definition !== undefined) {
      check(isObject(definition) && (definition.type === undefined || (typeof definition.type === 'string' && iriPattern.test(definition.type))), 'definition.type must be an IRI');
      check(!isObject(definition) || definition.interactionType === undefined || interactionTypes.includes(definition.interactionType as string), 'interactionType must be one of xAPI\'s');
    }
  }
  const result = s.result;
  if (result !== undefined) {
    check(isObject(result), 'result is an object');
    if (isObject(result)) {
      check(result.success === undefined || typeof result.success === 'boolean', 'result.success is a boolean');
      check(result.completion === undefined || typeof result.completion === 'boolean', 'result.completion is a boolean');
      check(result.response === undefined || typeof result.response === 'string', 'result.response is a string');
      check(result.score === undefined || (isObject(result.score) && typeof result.score.raw === 'number'), 'result.score.raw is a number');
    }
  }
  check(typeof s.timestamp === 'string' && timestampPattern.test(s.timestamp) && !Number.isNaN(Date.parse(s.timestamp)), 'timestamp must be ISO 8601 with a zone');
  const context = s.context;
  check(context === undefined || (isObject(context) && (context.extensions === undefined || (isObject(context.extensions) && Object.keys(context.extensions).every((k) => iriPattern.test(k))))), 'context.extensions keys must be IRIs');
  return errors;
}

t.test('xapi: every statement of every kind has what xAPI 1.0.3 requires', async (t) => {
  const { app, exportOf } = await setUp(t);
  // Every kind of answer too.
  const kinds: [string, unknown][] = [
    ['mchoice', ['a']],
    ['fitb', ['x']],
    ['parsons', [{ block: 'b1', indent: 1 }]],
    ['dragndrop', [{ source: 's', target: 't' }]],
    ['clickablearea', [0, 2]],
    ['shortanswer', 'text'],
    ['unittest', { passed: 1, failed: 0 }],
    ['poll', 'p'],
    ['codelens', { answer: '1', step: 2 }],
  ];
  const zed = await student(app, 'zed', { researchConsent: true });
  for (const [kind, answer] of kinds) await expectStatus(app, 201, 'POST', `/api/books/book/answers/k-${kind}`, zed.headers, { kind, answer, correct: true, score: 0.5 });
  let count = 0;
  for (const kind of ['events', 'answers', 'programs', 'completions']) {
    const res = await exportOf(`kind=${kind}&format=xapi`);
    t.equal(res.statusCode, 200);
    for (const statement of jsonLines(res.body)) {
      t.same(xapiViolations(statement), [], `${kind} ${JSON.stringify(statement).slice(0, 120)}`);
      count++;
    }
  }
  t.equal(count, 1 + 3 + kinds.length + 1 + 1);
});

t.test('xapi: an answer is "answered" an activity at <book origin>/<page>#<question>, with success, score, response and the book', async (t) => {
  const { ursula, victor, exportOf } = await setUp(t, { publicOrigin: 'https://folio.example.edu' });
  const [first, , third] = jsonLines((await exportOf('kind=answers&format=xapi')).body);
  const ext = (name: string) => `https://folio.example.edu/xapi/${name}`;
  t.same(first, {
    id: nameBasedUuid(`https://folio.example.edu/xapi/statements/book/answers/1/${hmac16(ursula.id)}`),
    actor: { objectType: 'Agent', account: { homePage: 'https://folio.example.edu', name: hmac16(ursula.id) } },
    verb: { id: 'http://adlnet.gov/expapi/verbs/answered', display: { 'en-US': 'answered' } },
    object: {
      objectType: 'Activity',
      id: 'https://book.example/ch1/intro#q1',
      definition: { type: 'http://adlnet.gov/expapi/activities/cmi.interaction', interactionType: 'long-fill-in' },
    },
    result: { success: true, score: { raw: 1 }, response: 'a, "quoted"\nline two' },
    timestamp: at(1000),
    context: { platform: 'Folio', extensions: { [ext('book')]: 'book', [ext('attempt')]: 1, [ext('kind')]: 'shortanswer' } },
  });
  t.match(third, {
    actor: { account: { name: hmac16(victor.id) } },
    object: { id: 'https://book.example/ch2#q3', definition: { interactionType: 'choice' } },
    result: { success: false, score: { raw: 0 }, response: 'b[,]c' },
  });
});

t.test('xapi: each kind of answer has the interaction type whose response format fits it', async (t) => {
  const { app, exportOf } = await setUp(t, { publicOrigin: 'https://folio.example.edu' });
  const zed = await student(app, 'zed', { researchConsent: true });
  const cases: [string, unknown, string, string][] = [
    ['mchoice', ['a', 'c'], 'choice', 'a[,]c'],
    ['poll', 'p2', 'choice', 'p2'],
    ['clickablearea', [0, 2], 'choice', '0[,]2'],
    ['fitb', ['x', 'y z'], 'fill-in', 'x[,]y z'],
    ['shortanswer', 'a long text', 'long-fill-in', 'a long text'],
    ['dragndrop', [{ source: 's1', target: 't1' }, { source: 's2', target: 't2' }], 'matching', 's1[.]t1[,]s2[.]t2'],
    ['parsons', [{ block: 'b1', indent: 0 }, { block: 'b2', indent: 1 }], 'other', '[{"block":"b1","indent":0},{"block":"b2","indent":1}]'],
    ['unittest', { passed: 2, failed: 1 }, 'other', '{"passed":2,"failed":1}'],
    ['codelens', { answer: '7', step: 3 }, 'other', '{"answer":"7","step":3}'],
  ];
  for (const [kind, answer] of cases) await expectStatus(app, 201, 'POST', `/api/books/book/answers/k-${kind}`, zed.headers, { kind, answer });
  const statements = jsonLines((await exportOf(`kind=answers&format=xapi&since=${encodeURIComponent(at(10_000))}`)).body) as {
    object: { id: string; definition: { interactionType: string } };
    result: { response: string };
  }[];
  t.equal(statements.length, cases.length);
  for (const [kind, , type, response] of cases) {
    const statement = statements.find((s) => s.object.id.endsWith(`#k-${kind}`))!;
    t.equal(statement.object.definition.interactionType, type, kind);
    t.equal(statement.result.response, response, kind);
  }
});

t.test('xapi: a program is "attempted", an event "experienced", a completed page "completed"', async (t) => {
  const { exportOf } = await setUp(t, { publicOrigin: 'https://folio.example.edu' });
  const only = async (kind: string) => jsonLines((await exportOf(`kind=${kind}&format=xapi`)).body)[0]!;
  const ext = (name: string) => `https://folio.example.edu/xapi/${name}`;
  t.match(await only('programs'), {
    verb: { id: 'http://adlnet.gov/expapi/verbs/attempted' },
    object: { objectType: 'Activity', id: 'https://book.example/ch1/intro#ac1', definition: { type: 'http://adlnet.gov/expapi/activities/interaction' } },
    result: { response: 'print("a, b")\nprint(2)\n' },
    timestamp: at(21000),
    context: { extensions: { [ext('book')]: 'book', [ext('version')]: 1, [ext('language')]: 'python' } },
  });
  t.match(await only('events'), {
    verb: { id: 'http://adlnet.gov/expapi/verbs/experienced' },
    object: { id: 'https://book.example/ch1/intro#ac1' },
    timestamp: at(11000),
    context: { extensions: { [ext('event-type')]: 'run', [ext('data')]: { ms: 12, out: 'a,"b"' }, [ext('client-time')]: at(0) } },
  });
  t.match(await only('completions'), {
    verb: { id: 'http://adlnet.gov/expapi/verbs/completed' },
    object: { id: 'https://book.example/ch1/intro', definition: { type: 'http://adlnet.gov/expapi/activities/lesson' } },
    result: { completion: true },
    timestamp: at(30000),
  });
});

t.test('xapi: statement ids are name-based UUIDs (v5) of the row, the same in every export of it, different for identified actors', async (t) => {
  t.equal(nameBasedUuid('http://www.example.com/'), 'fcde3c85-2270-590f-9e7c-ee003d65e0e2', 'the RFC 4122 v5 value for this URL');
  const { exportOf, admin } = await setUp(t);
  const ids = async (query: string, headers?: Record<string, string>) => jsonLines((await exportOf(`kind=answers&format=xapi${query}`, headers)).body).map((s) => s.id);
  const first = await ids('');
  t.equal(new Set(first).size, 3);
  t.same(await ids(''), first);
  t.same(await ids(`&since=${encodeURIComponent(at(2000))}`), first.slice(1), 'a resumed export gives the same rows the same ids');
  const identified = await ids('&identify=true', admin.headers);
  t.equal(identified.filter((id) => first.includes(id)).length, 0);
});

t.test('xapi: actors are accounts on FOLIO_PUBLIC_ORIGIN, or on the origin the request came to when it is unset', async (t) => {
  const { app, exportOf, researcher } = await setUp(t);
  const viaHost = await app.inject({ method: 'GET', url: '/api/books/book/export?kind=answers&format=xapi', headers: { ...researcher.headers, host: 'folio.test:8443' } });
  t.equal(JSON.parse(lines(viaHost.body)[0]!).actor.account.homePage, 'http://folio.test:8443');
  t.equal(JSON.parse(lines((await exportOf('kind=answers&format=xapi')).body)[0]!).actor.account.homePage, 'http://localhost:80');
});

t.test('xapi: activity ids start with the book\'s first origin, or the book\'s API address when it has none', async (t) => {
  const { app, exportOf, researcher } = await setUp(t);
  await addBookOrigin(app.db, 'book', 'https://a-later-origin.example');
  t.equal(JSON.parse(lines((await exportOf('kind=answers&format=xapi')).body)[0]!).object.id, 'https://book.example/ch1/intro#q1');
  await createBook(app.db, { id: 'bare', title: 'No origin yet', origins: [] });
  await app.books.refresh();
  // A book without origins takes writes with a bearer token only.
  await loginAs(app, 'zed', 'student', { researchConsent: true });
  const login = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'zed', password: 'correct horse battery', mode: 'token' } });
  await expectStatus(app, 201, 'POST', '/api/books/bare/answers/q1', { authorization: `Bearer ${login.json().token}` }, { kind: 'poll', answer: 'a', page: 'p' });
  await tick();
  const bare = await app.inject({ method: 'GET', url: '/api/books/bare/export?kind=answers&format=xapi', headers: researcher.headers });
  t.equal(JSON.parse(bare.body).object.id, 'http://localhost:80/api/books/bare/p#q1');
});

t.test('exports read rows in index order: no sort, whatever the size', { skip: testDialect !== 'sqlite' && 'SQLite query plans' }, async (t) => {
  const app = await build(t);
  for (const kind of ['events', 'answers', 'programs', 'completions'] as const) {
    for (const identify of [false, true]) {
      const plan = ((await app.db.all(sql`EXPLAIN QUERY PLAN ${exportRowsSql(kind, identify)}`, { book: 'b', since: 0, until: 1 })) as { detail: string }[]).map((p) => p.detail);
      t.match(plan[0], /^SEARCH r USING INDEX \w+_book_time_idx \(book_id=\? AND \w+>\? AND \w+<\?\)$/, kind);
      t.notOk(plan.some((d) => d.includes('TEMP B-TREE')), `${kind}: ${plan.join('; ')}`);
    }
  }
});

/** Many events for ursula, inserted directly (data as JSON.stringify({ i, padding }) writes it), in one statement. */
async function manyEvents(app: FastifyInstance, userId: string, n: number): Promise<void> {
  await app.db.run(
    sql`WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < ${n} - 1)
     INSERT INTO events (user_id, book_id, type, data, server_time) SELECT ${userId}, 'book', 'tick', '{"i":' || i || ',"padding":"${sql.raw('x'.repeat(40))}"}', CAST(${T + 100_000} AS BIGINT) + i FROM s`);
}

const request = (kind: ExportRequest['kind'] = 'events'): ExportRequest => ({ book: 'book', kind, format: 'jsonl', identify: false, secret, homePage: 'https://folio.example.edu' });
/** Waits until the stream stops formatting rows by itself (it reads ahead only until its buffer is full). */
const settled = async (stream: { rows: number }) => {
  for (let last = -1; stream.rows !== last || stream.rows === 0; ) {
    last = stream.rows;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};
/** Polls `check` for up to 2 s. */
const eventually = async (check: () => boolean) => {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
  return check();
};

t.test('the export stream reads rows only as fast as its reader takes them (backpressure), then all of them', async (t) => {
  const { app, ursula } = await setUp(t);
  await manyEvents(app, ursula.id, 20_000);
  const { stream, countRows } = await openExport(app.db, request());
  const total = await countRows();
  t.equal(total, 20_001);
  stream.once('readable', () => {}); // start buffering, read nothing
  await settled(stream);
  const buffered = stream.rows;
  t.ok(buffered > 0 && buffered < 2_000, `${buffered} rows formatted ahead of a reader that takes none`);
  t.ok(stream.readableLength <= 3 * 64 * 1024, `${stream.readableLength} bytes buffered`);
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.equal(stream.rows, buffered, 'nothing more is read while nobody reads');
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  t.equal(lines(text).length, 1 + total);
  t.equal(stream.rows, total);
});

t.test('while an export is being read, the server keeps saving work, and the export shows the moment it started', async (t) => {
  const { app, ursula } = await setUp(t);
  await manyEvents(app, ursula.id, 5_000);
  const { stream } = await openExport(app.db, request());
  const iterator = stream[Symbol.asyncIterator]();
  let text = String((await iterator.next()).value);
  const saved = await app.inject({ method: 'POST', url: '/api/books/book/events', headers: ursula.headers, payload: { events: [{ type: 'during-export' }] } });
  t.equal(saved.statusCode, 202, 'a write while the export holds its snapshot');
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) text += String(next.value);
  t.equal(lines(text).length, 1 + 5_001);
  t.notOk(text.includes('during-export'));
});

/**
 * Whether no export holds a snapshot. SQLite: a checkpoint can copy the whole write-ahead log (not while a
 * snapshot still needs old pages). PostgreSQL: every connection of the pool is back in it.
 */
function snapshotReleased(app: FastifyInstance): boolean {
  const { db } = app;
  if (db.dialect === 'postgres') {
    const { pool } = db as PostgresDatabase;
    return pool.totalCount === pool.idleCount;
  }
  const [result] = (db as SqliteDatabase).sqlite.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[];
  return result!.busy === 0 && result!.log === result!.checkpointed;
}

t.test('an export stopped midway releases its snapshot', async (t) => {
  const { app, ursula } = await setUp(t);
  await manyEvents(app, ursula.id, 5_000);
  const { stream } = await openExport(app.db, request());
  await stream[Symbol.asyncIterator]().next();
  await manyEvents(app, ursula.id, 100);
  t.notOk(snapshotReleased(app), 'the reading export holds the log');
  stream.destroy();
  t.ok(await eventually(() => snapshotReleased(app)), 'released');
});

t.test('a client that disconnects in the middle of an export releases it too', async (t) => {
  const { app, ursula, researcher } = await setUp(t);
  await manyEvents(app, ursula.id, 50_000);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve, reject) => {
    const req = get(`${url}/api/books/book/export?kind=events`, { headers: { cookie: researcher.headers.cookie } }, (res) => {
      t.equal(res.statusCode, 200);
      res.once('data', () => {
        void manyEvents(app, ursula.id, 100).then(() => {
          req.destroy();
          resolve();
        }, reject);
      });
    });
    req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
  });
  t.ok(await eventually(() => snapshotReleased(app)));
});

t.test('HEAD answers with the export\'s headers, no rows, and holds nothing', async (t) => {
  const { app, researcher } = await setUp(t);
  const res = await app.inject({ method: 'HEAD', url: '/api/books/book/export?kind=events', headers: researcher.headers });
  t.equal(res.statusCode, 200);
  t.equal(res.body, '');
  t.equal(res.headers['x-folio-excluded-users'], '2');
  t.equal(res.headers['content-type'], 'application/x-ndjson');
  t.ok(snapshotReleased(app));
});

t.test('an export of an unknown book is a 404', async (t) => {
  const { researcher, app } = await setUp(t);
  const res = await app.inject({ method: 'GET', url: '/api/books/nope/export', headers: researcher.headers });
  t.equal(res.statusCode, 404);
  t.same(res.json(), { statusCode: 404, error: 'unknown_book', message: 'there is no book "nope"' });
});

t.test('folio export writes what the API does, to stdout, with a summary on stderr', async (t) => {
  const { app, exportOf } = await setUp(t, { publicOrigin: 'https://folio.example.edu' });
  const env = { FOLIO_DATABASE_URL: app.config.databaseUrl, FOLIO_SECRET: secret, FOLIO_PUBLIC_ORIGIN: 'https://folio.example.edu' };
  const until = '2026-09-02T00:00:00.000Z';
  for (const [kind, format] of [
    ['answers', 'csv'],
    ['events', 'xapi'],
    ['programs', 'jsonl'],
  ]) {
    const cli = await folio(['export', '--book', 'book', '--kind', kind!, '--format', format!, '--until', until], env);
    t.equal(cli.code, 0, cli.stderr);
    const api = await exportOf(`kind=${kind}&format=${format}&until=${until}`);
    const withoutMeta = (body: string) => (format === 'jsonl' ? lines(body).slice(1) : lines(body));
    t.same(withoutMeta(cli.stdout), withoutMeta(api.body), `${kind} ${format}`);
  }
  const summary = await folio(['export', '--book', 'book', '--kind', 'events'], env);
  t.match(summary.stderr, /^exported 1 events row\(s\) of 1 user\(s\) \(2 user\(s\) without research consent left out, pseudonymised\) to stdout; continue later with --since \d{4}-\d\d-\d\dT[\d:.]+Z\n$/);
  t.match(jsonLines(summary.stdout)[0], { meta: { book: 'book', kind: 'events', users: 1, excludedUsers: 2 } });
});

t.test('folio export --out writes a file whole; --since resumes; --identify is said on stderr', async (t) => {
  const { app, ursula } = await setUp(t);
  const env = { FOLIO_DATABASE_URL: app.config.databaseUrl, FOLIO_SECRET: secret };
  const out = join(mkdtempSync(join(tmpdir(), 'folio-export-')), 'answers.csv');
  const res = await folio(['export', '--book', 'book', '--kind', 'answers', '--format', 'csv', '--out', out], env);
  t.equal(res.code, 0, res.stderr);
  t.equal(res.stdout, '');
  t.match(res.stderr, `to ${out};`);
  t.equal(parseCsv(readFileSync(out, 'utf8')).length, 4);
  const resumed = await folio(['export', '--book', 'book', '--kind', 'answers', '--since', at(2000)], env);
  t.same(jsonLines(resumed.stdout).slice(1).map((r) => r.question), ['q2', 'q3']);
  const identified = await folio(['export', '--book', 'book', '--kind', 'completions', '--identify'], env);
  t.match(identified.stderr, /^folio: exporting identities \(user ids, usernames, names, emails\) of consenting users of book, as \S+\n/);
  t.match(jsonLines(identified.stdout)[1], { userId: ursula.id, username: 'ursula', email: 'ursula@example.org' });
});

t.test('folio export: bad arguments exit 2, an unknown book exits 1, xapi without FOLIO_PUBLIC_ORIGIN says which home page it used', async (t) => {
  const { app } = await setUp(t);
  const env = { FOLIO_DATABASE_URL: app.config.databaseUrl, FOLIO_SECRET: secret };
  for (const args of [['--kind', 'grades'], ['--format', 'xlsx'], ['--since', 'yesterday'], ['--since', '2026-09-02', '--until', '2026-09-01']]) {
    const res = await folio(['export', '--book', 'book', ...args], env);
    t.equal(res.code, 2, args.join(' '));
    t.equal(res.stdout, '');
  }
  t.equal((await folio(['export'], env)).code, 2, '--book is required');
  const unknown = await folio(['export', '--book', 'nope'], env);
  t.equal(unknown.code, 1);
  t.equal(unknown.stderr, 'folio: there is no book "nope" (see "folio books list")\n');
  const xapi = await folio(['export', '--book', 'book', '--format', 'xapi'], env);
  t.equal(xapi.code, 0);
  t.match(xapi.stderr, /FOLIO_PUBLIC_ORIGIN is not set: xAPI actors get http:\/\/127\.0\.0\.1:3000 as their home page/);
});

t.test('folio export draws a progress bar of rows and rows/s when stderr is a terminal', async (t) => {
  const { app, ursula } = await setUp(t);
  await manyEvents(app, ursula.id, 3_000);
  const stderr = Object.assign(new PassThrough(), { isTTY: true, columns: 120 });
  let drawn = '';
  stderr.on('data', (chunk: Buffer) => (drawn += chunk.toString()));
  const stdout = new PassThrough();
  let data = '';
  stdout.on('data', (chunk: Buffer) => (data += chunk.toString()));
  const { rows } = await runExport(app.db, app.config, { book: 'book', kind: 'events', format: 'jsonl', identify: false }, { stdout, stderr });
  t.equal(rows, 3_001);
  t.equal(lines(data).length, 3_002);
  t.match(drawn, /exporting .* 100% \| 3001\/3001 rows \| \d+ rows\/s/);
  t.match(drawn, /exported 3001 events row\(s\)/);
  const plain = Object.assign(new PassThrough(), { isTTY: false });
  let said = '';
  plain.on('data', (chunk: Buffer) => (said += chunk.toString()));
  await runExport(app.db, app.config, { book: 'book', kind: 'events', format: 'jsonl', identify: false }, { stdout: new PassThrough().resume(), stderr: plain });
  t.notMatch(said, /exporting/, 'no bar when stderr is not a terminal');
});

t.test('csv: text a spreadsheet would run as a formula (= + - @ TAB CR) gets a leading quote; numbers, even negative, are left alone', async (t) => {
  t.equal(csvField('=HYPERLINK("http://evil.example","x")'), '"\'=HYPERLINK(""http://evil.example"",""x"")"');
  t.equal(csvField('@SUM(A1:A9)'), "'@SUM(A1:A9)");
  t.equal(csvField('+cmd|\' /C calc\'!A0'), "'+cmd|' /C calc'!A0");
  t.equal(csvField('-2+3'), "'-2+3");
  t.equal(csvField('\tx'), "'\tx");
  t.equal(csvField('\rx'), '"\'\rx"');
  t.equal(csvField('a=b'), 'a=b');
  t.equal(csvField(-3), '-3');
  t.equal(csvField(-0.5), '-0.5');
  t.equal(csvField('=1+1', 'raw'), '=1+1');
  t.equal(csvRecord(['=1', -1, '@x']), "'=1,-1,'@x\r\n");
  t.equal(csvRecord(['=1', -1, '@x'], 'raw'), '=1,-1,@x\r\n');
});

/** ursula's answers that a spreadsheet would run, and a negative score. */
async function formulas(app: FastifyInstance, headers: Record<string, string>) {
  await expectStatus(app, 201, 'POST', '/api/books/book/answers/f1', headers, { kind: 'shortanswer', answer: '=HYPERLINK("http://evil.example","click")', score: -2 });
  await expectStatus(app, 201, 'POST', '/api/books/book/answers/f2', headers, { kind: 'poll', answer: '@SUM(A1:A9)' });
  await expectStatus(app, 201, 'POST', '/api/books/book/answers/f3', headers, { kind: 'fitb', answer: ['+cmd|x'] });
  await app.db.run(sql`UPDATE answers SET saved_at = CAST(${T} AS BIGINT) + 40000 + id WHERE question LIKE 'f%'`);
}

t.test('a csv export neutralises formulas by default and writes them as stored with csvFormulas=raw', async (t) => {
  const { app, ursula, exportOf } = await setUp(t);
  await formulas(app, ursula.headers);
  const escaped = parseCsv((await exportOf('kind=answers&format=csv')).body).filter((r) => r[2]!.startsWith('f'));
  t.same(
    escaped.map((r) => [r[2], r[5], r[7]]),
    [
      ['f1', '\'=HYPERLINK("http://evil.example","click")', '-2'],
      ['f2', "'@SUM(A1:A9)", ''],
      ['f3', '["+cmd|x"]', ''],
    ],
  );
  const raw = await exportOf('kind=answers&format=csv&csvFormulas=raw');
  t.equal(raw.statusCode, 200);
  t.same(
    parseCsv(raw.body).filter((r) => r[2]!.startsWith('f')).map((r) => r[5]),
    ['=HYPERLINK("http://evil.example","click")', '@SUM(A1:A9)', '["+cmd|x"]'],
  );
  const jsonl = jsonLines((await exportOf('kind=answers')).body).filter((r) => r.question === 'f1');
  t.equal(jsonl[0]!.answer, '=HYPERLINK("http://evil.example","click")', 'JSON Lines are data: never changed');
  const bad = await exportOf('kind=answers&format=csv&csvFormulas=keep');
  t.equal(bad.statusCode, 400);
  t.match(bad.json().message, 'querystring/csvFormulas must be equal to one of the allowed values');
});

t.test('folio export neutralises csv formulas by default; --csv-raw writes them as stored', async (t) => {
  const { app, ursula } = await setUp(t);
  await formulas(app, ursula.headers);
  const env = { FOLIO_DATABASE_URL: app.config.databaseUrl, FOLIO_SECRET: secret };
  const escaped = await folio(['export', '--book', 'book', '--kind', 'answers', '--format', 'csv'], env);
  t.equal(escaped.code, 0, escaped.stderr);
  t.same(parseCsv(escaped.stdout).filter((r) => r[2]!.startsWith('f')).map((r) => r[5]), ['\'=HYPERLINK("http://evil.example","click")', "'@SUM(A1:A9)", '["+cmd|x"]']);
  const raw = await folio(['export', '--book', 'book', '--kind', 'answers', '--format', 'csv', '--csv-raw'], env);
  t.equal(raw.code, 0, raw.stderr);
  t.same(parseCsv(raw.stdout).filter((r) => r[2]!.startsWith('f')).map((r) => r[5]), ['=HYPERLINK("http://evil.example","click")', '@SUM(A1:A9)', '["+cmd|x"]']);
  t.match((await folio(['export', '--help'], env)).stdout, /--csv-raw/);
});

/** An event of ursula's as old data could hold it: a client time no date can show (9e15 ms), stored directly. */
async function unwritableEvent(app: FastifyInstance, userId: string) {
  await app.db.run(sql`INSERT INTO events (user_id, book_id, type, client_time, server_time) VALUES (${userId}, 'book', 'bad', CAST(${9e15} AS BIGINT), CAST(${T + 50000} AS BIGINT))`);
  await app.db.run(sql`INSERT INTO events (user_id, book_id, type, server_time) VALUES (${userId}, 'book', 'after', CAST(${T + 60000} AS BIGINT))`);
}

t.test('an export never dies on a stored row it cannot write: it is left out, counted in the X-Folio-Skipped trailer and a last JSON line, and logged', async (t) => {
  const { app, logs } = await buildLogged(t);
  const people = await classroom(app);
  const researcher = await loginAs(app, 'rita', 'researcher');
  await unwritableEvent(app, people.ursula.id);
  await tick();
  const get = (query: string) => app.inject({ method: 'GET', url: `/api/books/book/export?${query}`, headers: researcher.headers });
  const jsonl = await get('kind=events');
  t.equal(jsonl.statusCode, 200);
  t.equal(jsonl.headers.trailer, 'x-folio-skipped');
  t.same(jsonl.trailers, { 'x-folio-skipped': '1' });
  const rows = jsonLines(jsonl.body);
  t.same(rows.slice(1, -1).map((r) => r.type), ['run', 'after'], 'the rows before and after the bad one');
  t.same(rows.at(-1), { skipped: { rows: 1, reason: 'stored rows Folio could not write (see the server log)' } });
  const csv = await get('kind=events&format=csv');
  t.equal(csv.statusCode, 200);
  t.same(csv.trailers, { 'x-folio-skipped': '1' });
  t.same(parseCsv(csv.body).slice(1).map((r) => r[2]), ['run', 'after']);
  const xapi = await get('kind=events&format=xapi');
  t.equal(xapi.statusCode, 200);
  t.same(xapi.trailers, { 'x-folio-skipped': '1' });
  t.equal(lines(xapi.body).length, 2);
  const warnings = logs().filter((l) => l.msg === 'research export left out stored rows it could not write');
  t.equal(warnings.length, 3);
  t.match(warnings[0], { level: 40, skipped: 1, book: 'book', kind: 'events', firstSkip: /Invalid time value/ });
  const clean = await get('kind=answers');
  t.same(clean.trailers, { 'x-folio-skipped': '0' }, 'the trailer is there when nothing was skipped');
  t.notOk(jsonLines(clean.body).some((r) => 'skipped' in r));
});

t.test('folio export leaves out a stored row it cannot write and says so on stderr', async (t) => {
  const { app, ursula } = await setUp(t);
  await unwritableEvent(app, ursula.id);
  const env = { FOLIO_DATABASE_URL: app.config.databaseUrl, FOLIO_SECRET: secret };
  const res = await folio(['export', '--book', 'book', '--kind', 'events', '--format', 'csv'], env);
  t.equal(res.code, 0, res.stderr);
  t.same(parseCsv(res.stdout).slice(1).map((r) => r[2]), ['run', 'after']);
  t.match(res.stderr, /^folio: warning: left out 1 stored row\(s\) that could not be written \(the first: Invalid time value/);
  t.match(res.stderr, /exported 2 events row\(s\)/);
});
