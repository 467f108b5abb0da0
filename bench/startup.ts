/**
 * Start-up time of the single binary on an existing database: from spawn to the first answered /healthz,
 * median of 7 runs, and the binary's size.   npm run build:binary && npx tsx bench/startup.ts
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log('npm run build:binary && npx tsx bench/startup.ts: the single binary\'s size and its start-up time (spawn to the first /healthz answer), median of 7 runs');
  process.exit(0);
}
const binary = join(import.meta.dirname, '..', 'dist/folio');
const dir = mkdtempSync(join(tmpdir(), 'folio-startup-'));
const env = { PATH: dir, FOLIO_DATABASE_URL: join(dir, 'course.db'), FOLIO_LOG_LEVEL: 'warn', FOLIO_DEMO: '0' };
execFileSync(binary, ['migrate'], { env });

async function once(port: number): Promise<number> {
  const started = performance.now();
  const child = spawn(binary, ['serve', '--port', String(port)], { env, stdio: 'ignore' });
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break;
    } catch {
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  const ms = performance.now() - started;
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return ms;
}

const runs: number[] = [];
for (let i = 0; i < 7; i++) runs.push(await once(39_000 + i));
runs.sort((a, b) => a - b);
const version = performance.now();
execFileSync(binary, ['--version'], { env });
console.log(`binary ${(statSync(binary).size / 1024 / 1024).toFixed(1)} MiB; folio --version ${(performance.now() - version).toFixed(0)} ms; serve listening and answering after ${runs[3]!.toFixed(0)} ms (median of 7; min ${runs[0]!.toFixed(0)}, max ${runs[6]!.toFixed(0)})`);
rmSync(dir, { recursive: true, force: true });
