// Issue #9: several `folio serve` processes on one PostgreSQL database. Real processes, a real PostgreSQL
// (FOLIO_TEST_POSTGRES_URL, default this machine's database `test`), each test on a schema of its own.
import pg from 'pg';
import t, { type Test } from 'tap';
import { bookOrigin, folio, postgresSchemaUrl, postgresTestUrl, spawnServer, testSecret, type ServerProcess } from './helper.js';

const book = 'multi';
const newOrigin = 'https://new.example';

interface Cluster {
  env: Record<string, string>;
  schema: string;
  a: ServerProcess;
  b: ServerProcess;
  /** Runs SQL on the test's schema, straight on PostgreSQL (no Folio code in between). */
  sql<T>(text: string, values?: unknown[]): Promise<T[]>;
}

/** One schema, migrated once by the CLI, one book allowing bookOrigin, and two `folio serve` processes on it. */
async function cluster(t: Test): Promise<Cluster> {
  const url = postgresSchemaUrl(t);
  const schema = new URL(url).searchParams.get('schema')!;
  const env = { FOLIO_DATABASE_URL: url, FOLIO_SECRET: testSecret, FOLIO_DEMO: '0', FOLIO_PASSWORD_COST: '10' };
  const migrate = await folio(['migrate'], env);
  t.equal(migrate.code, 0, `folio migrate: ${migrate.stderr}`);
  const add = await folio(['books', 'add', book, '--title', 'Multi-process book', '--origin', bookOrigin], env);
  t.equal(add.code, 0, `folio books add: ${add.stderr}`);
  const [a, b] = await Promise.all([spawnServer(t, env), spawnServer(t, env)]);
  t.not(a.url, b.url, 'two processes on two ports');
  const client = new pg.Client({ connectionString: postgresTestUrl, options: `-c search_path=${schema}` });
  await client.connect();
  // Teardowns run last-added first: this client ends, then the servers are killed, then the schema is dropped.
  t.teardown(() => client.end());
  return { env, schema, a, b, sql: async <T>(text: string, values: unknown[] = []) => (await client.query(text, values)).rows as T[] };
}

function call(server: ServerProcess, method: string, path: string, body?: unknown, cookie?: string): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method,
    headers: {
      origin: bookOrigin,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(cookie ? { cookie } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** Registers `username` in cookie mode on `server`; returns the cookie (`folio=…`, plain HTTP) and the user id. */
async function registerOn(t: Test, server: ServerProcess, username: string): Promise<{ cookie: string; userId: string }> {
  const res = await call(server, 'POST', '/api/auth/register', { username, password: 'correct horse battery' });
  t.equal(res.status, 201, 'register: 201');
  const setCookie = res.headers.get('set-cookie') ?? '';
  t.match(setCookie, /^folio=[^;]+;/, 'plain HTTP: the cookie is named folio');
  t.match(setCookie, /SameSite=Lax/i);
  const { user } = (await res.json()) as { user: { id: string; username: string } };
  t.equal(user.username, username);
  return { cookie: setCookie.split(';')[0]!, userId: user.id };
}

t.test('a session started on one process saves work through the other and reads it back on the first', async (t) => {
  const { a, b } = await cluster(t);
  const { cookie, userId } = await registerOn(t, a, 'ada');

  const me = await call(b, 'GET', '/api/auth/me', undefined, cookie);
  t.equal(me.status, 200, 'the second process knows the session');
  t.equal(((await me.json()) as { user: { id: string } }).user.id, userId);

  const code = 'print("saved through B")\n';
  const savedProgram = await call(b, 'PUT', `/api/books/${book}/programs/ac1`, { code, language: 'python', page: 'ch1/intro' }, cookie);
  t.equal(savedProgram.status, 200, 'program save: 200');
  const program = (await savedProgram.json()) as { version: number; savedAt: string };
  t.equal(program.version, 1);

  const savedAnswer = await call(b, 'POST', `/api/books/${book}/answers/q1`, { kind: 'mchoice', answer: ['b'], correct: true, page: 'ch1/intro' }, cookie);
  t.equal(savedAnswer.status, 201, 'answer: 201');
  const answer = (await savedAnswer.json()) as { attempt: number; savedAt: string };
  t.equal(answer.attempt, 1);

  const expectedProgram = { activity: 'ac1', version: 1, code, language: 'python', page: 'ch1/intro', savedAt: program.savedAt };
  const expectedAnswer = { question: 'q1', attempt: 1, kind: 'mchoice', answer: ['b'], correct: true, score: null, page: 'ch1/intro', savedAt: answer.savedAt };

  const stateOnA = await call(a, 'GET', `/api/books/${book}/state?page=ch1%2Fintro`, undefined, cookie);
  t.equal(stateOnA.status, 200, 'page state on A: 200');
  t.equal(stateOnA.headers.get('access-control-allow-origin'), bookOrigin);
  t.same(await stateOnA.json(), { programs: { ac1: expectedProgram }, answers: { q1: { latest: expectedAnswer, attempts: 1 } }, completedAt: null });

  const programOnA = await call(a, 'GET', `/api/books/${book}/programs/ac1`, undefined, cookie);
  t.equal(programOnA.status, 200, 'program on A: 200');
  t.same(await programOnA.json(), expectedProgram);

  const answerOnA = await call(a, 'GET', `/api/books/${book}/answers/q1`, undefined, cookie);
  t.equal(answerOnA.status, 200, 'answer on A: 200');
  t.same(await answerOnA.json(), { latest: expectedAnswer, attempts: 1 });
});

/** A preflight for a save from `origin`: status and Access-Control-Allow-Origin. */
async function preflight(server: ServerProcess, origin: string): Promise<{ status: number; allow: string | null; credentials: string | null }> {
  const res = await fetch(`${server.url}/api/books/${book}/programs/ac1`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type' },
  });
  await res.arrayBuffer();
  return { status: res.status, allow: res.headers.get('access-control-allow-origin'), credentials: res.headers.get('access-control-allow-credentials') };
}

/** Polls both processes every 50 ms until `done` holds for both; the ms from start until it held for the slower one. */
async function untilBoth(servers: ServerProcess[], done: (r: Awaited<ReturnType<typeof preflight>>) => boolean, limitMs = 3000): Promise<number> {
  const start = performance.now();
  const seen = servers.map(() => -1);
  while (performance.now() - start < limitMs) {
    const replies = await Promise.all(servers.map((s) => preflight(s, newOrigin)));
    replies.forEach((r, i) => {
      if (seen[i] === -1 && done(r)) seen[i] = performance.now() - start;
      // Once in effect, it must stay in effect (no process flapping back to the old list).
      else if (seen[i] !== -1 && !done(r)) seen[i] = -2;
    });
    if (seen.every((s) => s >= 0)) return Math.max(...seen);
    if (seen.some((s) => s === -2)) return Number.POSITIVE_INFINITY;
    await new Promise((r) => setTimeout(r, 50));
  }
  return Number.POSITIVE_INFINITY;
}

t.test('an origin added or removed with the CLI is in effect in both processes within a second', async (t) => {
  const { env, a, b } = await cluster(t);
  const refused = { status: 404, allow: null, credentials: null };
  const allowed = { status: 204, allow: newOrigin, credentials: 'true' };

  t.same(await preflight(a, newOrigin), refused, 'A refuses the new origin before');
  t.same(await preflight(b, newOrigin), refused, 'B refuses the new origin before');

  const add = await folio(['books', 'origins', 'add', book, newOrigin], env);
  t.equal(add.code, 0, `origins add: ${add.stderr}`);
  t.equal(add.stdout, `book ${book} now allows ${newOrigin}\n`);
  const addDelay = await untilBoth([a, b], (r) => r.status === 204 && r.allow === newOrigin && r.credentials === 'true');
  t.ok(addDelay < 1000, `both processes allow ${newOrigin} ${addDelay.toFixed(0)} ms after the CLI returned`);
  t.same(await preflight(a, newOrigin), allowed, 'A allows it');
  t.same(await preflight(b, newOrigin), allowed, 'B allows it');
  t.same(await preflight(a, bookOrigin), { ...allowed, allow: bookOrigin }, 'the book origin is still allowed');

  const remove = await folio(['books', 'origins', 'remove', book, newOrigin], env);
  t.equal(remove.code, 0, `origins remove: ${remove.stderr}`);
  t.equal(remove.stdout, `book ${book} no longer allows ${newOrigin}\n`);
  const removeDelay = await untilBoth([a, b], (r) => r.status === 404 && r.allow === null && r.credentials === null);
  t.ok(removeDelay < 1000, `both processes refuse ${newOrigin} ${removeDelay.toFixed(0)} ms after the CLI returned`);
  t.same(await preflight(a, newOrigin), refused, 'A refuses it again');
  t.same(await preflight(b, newOrigin), refused, 'B refuses it again');
  t.same(await preflight(b, bookOrigin), { ...allowed, allow: bookOrigin }, 'the book origin is still allowed');
});

t.test('40 concurrent saves of one activity and one question through both processes number 1..40 exactly', async (t) => {
  const { a, b, sql } = await cluster(t);
  const { cookie, userId } = await registerOn(t, a, 'grace');
  const n = 40;
  const servers = (i: number) => (i % 2 === 0 ? a : b);

  const programs = Array.from({ length: n }, async (_, i) => {
    const code = `save ${i} via ${i % 2 === 0 ? 'A' : 'B'}`;
    const res = await call(servers(i), 'PUT', `/api/books/${book}/programs/ac1`, { code, page: 'p1' }, cookie);
    return { status: res.status, code, version: ((await res.json()) as { version: number }).version };
  });
  const answers = Array.from({ length: n }, async (_, i) => {
    const text = `attempt ${i} via ${i % 2 === 0 ? 'A' : 'B'}`;
    const res = await call(servers(i), 'POST', `/api/books/${book}/answers/q1`, { kind: 'shortanswer', answer: text, page: 'p1' }, cookie);
    return { status: res.status, text, attempt: ((await res.json()) as { attempt: number }).attempt };
  });
  const [savedPrograms, savedAnswers] = await Promise.all([Promise.all(programs), Promise.all(answers)]);
  const oneToN = Array.from({ length: n }, (_, i) => i + 1);
  t.comment(`versions given by A: ${savedPrograms.filter((_, i) => i % 2 === 0).map((s) => s.version).sort((x, y) => x - y).join(',')}`);

  t.same(savedPrograms.map((s) => s.status), Array(n).fill(200), 'every program save: 200');
  t.same(savedAnswers.map((s) => s.status), Array(n).fill(201), 'every answer: 201');
  t.same(savedPrograms.map((s) => s.version).sort((x, y) => x - y), oneToN, 'the replies number the versions 1..40');
  t.same(savedAnswers.map((s) => s.attempt).sort((x, y) => x - y), oneToN, 'the replies number the attempts 1..40');

  const programRows = await sql<{ version: number; code: string; latest: number }>(
    'SELECT version, code, latest FROM programs WHERE user_id = $1 AND book_id = $2 AND activity = $3 ORDER BY version, id',
    [userId, book, 'ac1'],
  );
  t.same(programRows.map((r) => r.version), oneToN, 'programs: versions 1..40, no gap, no duplicate');
  t.same(
    programRows.map((r) => r.code),
    [...savedPrograms].sort((x, y) => x.version - y.version).map((s) => s.code),
    'each version holds the code of the save that was told that version',
  );
  t.same(programRows.filter((r) => r.latest === 1).map((r) => r.version), [n], 'programs: exactly one row is latest, version 40');

  const answerRows = await sql<{ attempt: number; answer: string; latest: number }>(
    'SELECT attempt, answer, latest FROM answers WHERE user_id = $1 AND book_id = $2 AND question = $3 ORDER BY attempt, id',
    [userId, book, 'q1'],
  );
  t.same(answerRows.map((r) => r.attempt), oneToN, 'answers: attempts 1..40, no gap, no duplicate');
  t.same(
    answerRows.map((r) => JSON.parse(r.answer) as string),
    [...savedAnswers].sort((x, y) => x.attempt - y.attempt).map((s) => s.text),
    'each attempt holds the answer of the submission that was told that attempt',
  );
  t.same(answerRows.filter((r) => r.latest === 1).map((r) => r.attempt), [n], 'answers: exactly one row is latest, attempt 40');

  for (const server of [a, b]) {
    const res = await call(server, 'GET', `/api/books/${book}/answers/q1`, undefined, cookie);
    t.equal(res.status, 200);
    t.equal(((await res.json()) as { attempts: number }).attempts, n, 'both processes count 40 attempts');
  }
});

t.test('kill -9 of one process under 16 concurrent writers on both loses no acknowledged write and leaves nothing half-written', async (t) => {
  const { a, b, sql } = await cluster(t);
  const { cookie, userId } = await registerOn(t, a, 'linus');
  const victim = Math.random() < 0.5 ? a : b;
  const survivor = victim === a ? b : a;

  interface Write {
    kind: 'program' | 'answer';
    target: string;
    value: string;
    /** The version or attempt the reply gave. */
    number: number;
  }
  const acknowledged: Write[] = [];
  const sent: { program: Map<string, Set<string>>; answer: Map<string, Set<string>> } = { program: new Map(), answer: new Map() };
  const failures = new Map<ServerProcess, string[]>([[a, []], [b, []]]);
  let killedAt = Number.POSITIVE_INFINITY;
  const acksBeforeKill = new Map<ServerProcess, number>([[a, 0], [b, 0]]);
  let survivorAcksAfterKill = 0;
  let stop = false;

  // 16 writers of one student (all of them contend for the same work lock): even ones save programs, odd ones
  // answer questions; writers 0-7 go to A, 8-15 to B.
  const writer = async (w: number) => {
    const server = w < 8 ? a : b;
    const kind = w % 2 === 0 ? 'program' : 'answer';
    const target = `w${w}`;
    const mine = new Set<string>();
    sent[kind].set(target, mine);
    for (let i = 0; !stop; i++) {
      const value = `writer ${w} write ${i} ${'x'.repeat(i % 5 === 0 ? 5_000 : 10)} end`;
      mine.add(value);
      try {
        const res =
          kind === 'program'
            ? await call(server, 'PUT', `/api/books/${book}/programs/${target}`, { code: value, page: 'load' }, cookie)
            : await call(server, 'POST', `/api/books/${book}/answers/${target}`, { kind: 'shortanswer', answer: value, page: 'load' }, cookie);
        const body = (await res.json()) as { version?: number; attempt?: number };
        if (res.status >= 200 && res.status < 300) {
          acknowledged.push({ kind, target, value, number: (kind === 'program' ? body.version : body.attempt)! });
          if (performance.now() <= killedAt) acksBeforeKill.set(server, acksBeforeKill.get(server)! + 1);
          else if (server === survivor) survivorAcksAfterKill++;
        } else {
          failures.get(server)!.push(`${res.status} ${JSON.stringify(body)}`);
        }
      } catch (err) {
        failures.get(server)!.push(String((err as Error).cause ?? err));
        if (server === victim && performance.now() > killedAt) return; // it is gone: this writer is done
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };
  const writers = Array.from({ length: 16 }, (_, w) => writer(w));

  // The kill comes once both processes are under way (a loaded machine may take seconds to the first answers), at a random moment.
  for (let waited = 0; acksBeforeKill.get(victim)! <= 20 || acksBeforeKill.get(survivor)! <= 20; waited += 50) {
    if (waited > 60_000) throw new Error(`no 20 acknowledged writes on each process within a minute: ${[...acksBeforeKill.values()].join(', ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, Math.random() * 1000));
  killedAt = performance.now();
  victim.child.kill('SIGKILL');
  t.equal(await victim.exited, null, 'the victim died of SIGKILL');
  await new Promise((r) => setTimeout(r, 800));
  stop = true;
  await Promise.all(writers);

  t.ok(acksBeforeKill.get(victim)! > 20, `the victim acknowledged ${acksBeforeKill.get(victim)} writes before the kill`);
  t.ok(acksBeforeKill.get(survivor)! > 20, `the survivor acknowledged ${acksBeforeKill.get(survivor)} writes before the kill`);
  t.ok(survivorAcksAfterKill > 10, `the survivor acknowledged ${survivorAcksAfterKill} writes after the kill`);
  t.same(failures.get(survivor), [], 'writers on the survivor got only 2xx');
  t.ok(failures.get(victim)!.length > 0, `writers on the victim saw connection errors (${failures.get(victim)!.length})`);

  // Every acknowledged write is there, with the version or attempt it was told and its exact content.
  const programRows = await sql<{ activity: string; version: number; code: string; latest: number }>(
    'SELECT activity, version, code, latest FROM programs WHERE user_id = $1 AND book_id = $2 ORDER BY activity, version, id',
    [userId, book],
  );
  const answerRows = await sql<{ question: string; attempt: number; answer: string; latest: number }>(
    'SELECT question, attempt, answer, latest FROM answers WHERE user_id = $1 AND book_id = $2 ORDER BY question, attempt, id',
    [userId, book],
  );
  const stored = new Map<string, string>([
    ...programRows.map((r) => [`program ${r.activity} ${r.version}`, r.code] as const),
    ...answerRows.map((r) => [`answer ${r.question} ${r.attempt}`, JSON.parse(r.answer) as string] as const),
  ]);
  const lost = acknowledged.filter((w) => stored.get(`${w.kind} ${w.target} ${w.number}`) !== w.value);
  t.same(lost, [], `all ${acknowledged.length} acknowledged writes are stored with their number and content`);

  // Nothing half-written: per target, versions 1..n with no gap, every row a value that was sent, one latest row.
  const groups = new Map<string, { kind: 'program' | 'answer'; target: string; numbers: number[]; values: string[]; latest: number[] }>();
  const group = (kind: 'program' | 'answer', target: string) => {
    const key = `${kind} ${target}`;
    if (!groups.has(key)) groups.set(key, { kind, target, numbers: [], values: [], latest: [] });
    return groups.get(key)!;
  };
  for (const r of programRows) {
    const g = group('program', r.activity);
    g.numbers.push(r.version);
    g.values.push(r.code);
    if (r.latest === 1) g.latest.push(r.version);
  }
  for (const r of answerRows) {
    const g = group('answer', r.question);
    g.numbers.push(r.attempt);
    g.values.push(JSON.parse(r.answer) as string);
    if (r.latest === 1) g.latest.push(r.attempt);
  }
  t.equal(groups.size, 16, 'rows for all 16 writers');
  for (const g of groups.values()) {
    const what = `${g.kind} ${g.target}`;
    t.same(g.numbers, g.numbers.map((_, i) => i + 1), `${what}: numbered 1..${g.numbers.length}, no gap, no duplicate`);
    const unsent = g.values.filter((v) => !sent[g.kind].get(g.target)?.has(v));
    t.same(unsent, [], `${what}: every row holds a value that was sent whole`);
    t.same(g.latest, [g.numbers.length], `${what}: exactly one latest row, the newest`);
  }

  // The survivor still serves, and sees the newest of each writer's work.
  const health = await fetch(`${survivor.url}/readyz`);
  t.equal(health.status, 200, 'the survivor is ready');
  await health.arrayBuffer();
  const newestProgram = groups.get('program w0')!;
  const res = await call(survivor, 'GET', `/api/books/${book}/programs/w0`, undefined, cookie);
  t.equal(res.status, 200);
  t.same(
    { version: ((await res.clone().json()) as { version: number }).version, code: ((await res.json()) as { code: string }).code },
    { version: newestProgram.numbers.length, code: newestProgram.values.at(-1) },
    'the survivor serves the newest version',
  );
  const after = await call(survivor, 'PUT', `/api/books/${book}/programs/w0`, { code: 'after the load' }, cookie);
  t.equal(after.status, 200, 'the survivor still takes writes');
  t.equal(((await after.json()) as { version: number }).version, newestProgram.numbers.length + 1);
});
