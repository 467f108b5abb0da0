/**
 * Start-up time of the single binary on an existing database: from spawn to the first answered /healthz, median of 7
 * runs, with the CPU time (user + system, all threads) the serving process had used by then, and the binary's size.
 *   npm run build:binary && npx tsx bench/startup.ts [--runs N] [--binary PATH]
 * The CPU time is read from /proc (Linux); it is steadier than wall time on a busy machine.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log('npm run build:binary && npx tsx bench/startup.ts [--runs N] [--binary PATH]: the single binary\'s size (dist/folio, or PATH: another build, to compare) and its start-up time (spawn to the first /healthz answer) and CPU time by then, median of N runs (default 7)');
  process.exit(0);
}
const runsFlag = process.argv.indexOf('--runs');
const count = runsFlag > 0 ? Number(process.argv[runsFlag + 1]) : 7;
const binaryFlag = process.argv.indexOf('--binary');
const binary = binaryFlag > 0 ? process.argv[binaryFlag + 1]! : join(import.meta.dirname, '..', 'dist/folio');
const dir = mkdtempSync(join(tmpdir(), 'folio-startup-'));
const env = { PATH: dir, FOLIO_DATABASE_URL: join(dir, 'course.db'), FOLIO_LOG_LEVEL: 'warn', FOLIO_DEMO: '0' };
execFileSync(binary, ['migrate'], { env });

/**
 * The CPU time a process has used, in ms: the sum over its threads of /proc/PID/task/TID/schedstat's first field
 * (nanoseconds on the CPU; finer than /proc/PID/stat's 10 ms ticks). Threads that have already ended are not counted.
 */
function cpuMs(pid: number): number | undefined {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    return ns / 1e6;
  } catch {
    return undefined;
  }
}

async function once(port: number): Promise<{ wall: number; cpu: number | undefined }> {
  const started = performance.now();
  const child = spawn(binary, ['serve', '--port', String(port)], { env, stdio: 'ignore' });
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  for (;;) {
    if (exited !== undefined) throw new Error(`folio serve exited (code ${exited}) before answering: is port ${port} in use?`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break;
    } catch {
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  const wall = performance.now() - started;
  const cpu = cpuMs(child.pid!);
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return { wall, cpu };
}

const walls: number[] = [];
const cpus: number[] = [];
for (let i = 0; i < count; i++) {
  const { wall, cpu } = await once(39_000 + i);
  walls.push(wall);
  if (cpu !== undefined) cpus.push(cpu);
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const version = performance.now();
execFileSync(binary, ['--version'], { env });
console.log(
  `binary ${(statSync(binary).size / 1024 / 1024).toFixed(1)} MiB; folio --version ${(performance.now() - version).toFixed(0)} ms; ` +
    `serve listening and answering after ${median(walls).toFixed(0)} ms (median of ${count}; min ${Math.min(...walls).toFixed(0)}, max ${Math.max(...walls).toFixed(0)})` +
    (cpus.length ? `, CPU time by then ${median(cpus).toFixed(0)} ms (median; min ${Math.min(...cpus).toFixed(0)}, max ${Math.max(...cpus).toFixed(0)})` : ''),
);
rmSync(dir, { recursive: true, force: true });
