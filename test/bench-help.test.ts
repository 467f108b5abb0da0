import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { cleanEnv } from './helper.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');

/** The commands of bench/ and the test runner, with what their --help must name. */
const commands: [script: string, usage: RegExp][] = [
  ['bench/run.ts', /^npm run bench -- \[options\][\s\S]*npm run build[\s\S]*--mode M +both \(default\), in-process or separate[\s\S]*--duration S[\s\S]*--only A,B[\s\S]*bench\/RESULTS\.md/],
  ['bench/load.ts', /^npx tsx bench\/load\.ts \[--seconds 60\] \[--connections 200\]/],
  ['bench/export.ts', /^npm run bench:export \[-- --rows N\]/],
  ['bench/startup.ts', /^npm run build:binary && npx tsx bench\/startup\.ts/],
  ['bench/queries.ts', /^npx tsx bench\/queries\.ts \[--calls N\] \[--rounds N\]/],
  ['bench/courses.ts', /^npm run bench:courses \[-- --students 1000 --others 500 --runs 20\][\s\S]*Goal: the grid under 300 ms/],
  ['bench/dashboard.ts', /^npm run bench:dashboard \[-- --students 1000 --runs 5 --keep FILE --assert\][\s\S]*npm run build[\s\S]*--assert exits 1 when the\nmedian is over 1 s/],
  ['scripts/test.ts', /^npx tsx scripts\/test\.ts \[--sqlite-only \| --postgres-only\][\s\S]*FOLIO_TEST_REQUIRE_POSTGRES/],
];

t.test('every bench command and the test runner answer --help with their usage alone, exit code 0', async (t) => {
  const outputs = await Promise.all(commands.map(([script]) => run(process.execPath, ['--import', 'tsx', script, '--help'], { cwd: root, env: cleanEnv(), timeout: 60_000 })));
  commands.forEach(([script, usage], i) => {
    t.match(outputs[i]!.stdout, usage, script);
    t.notMatch(outputs[i]!.stdout, /req\/s|ceiling: bare|generated .* events|per query made ready/, `${script}: no measurement ran`);
    t.equal(outputs[i]!.stderr, '', script);
  });
});

t.test('npm run bench refuses a --mode it does not know, exit code 2, before measuring anything', async (t) => {
  const failed = await run(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--mode', 'inprocess'], { cwd: root, env: cleanEnv(), timeout: 60_000 }).then(
    () => ({ code: 0, stdout: '', stderr: '' }),
    (err: { code: number; stdout: string; stderr: string }) => err,
  );
  t.equal(failed.code, 2);
  t.equal(failed.stderr, '--mode: "inprocess" is none of both, in-process, separate\n');
  t.equal(failed.stdout, '');
});
