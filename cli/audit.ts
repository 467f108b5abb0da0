import { hostname, userInfo } from 'node:os';
import type { Config } from '../lib/config.js';

/** pino's level numbers: a CLI event line is written when its level is at or above FOLIO_LOG_LEVEL. */
const levels = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity } as const;

/** The system account running the command: who a CLI security event is by. */
export function whoRuns(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? `uid ${process.getuid?.() ?? '?'}`;
  }
}

/**
 * A security event of a `folio` command as one JSON line on stderr, in the shape of the server's pino lines
 * (`level`, `time`, `pid`, `hostname`, the fields, `msg`), so one log pipeline reads both. The command has no
 * server logger, and one line does not need a logging library.
 */
export function logSecurityEvent(config: Config, fields: { event: string } & Record<string, unknown>, msg: string, level: 'info' | 'warn' = 'info', stderr: NodeJS.WritableStream = process.stderr): void {
  if (levels[level] < levels[config.logLevel]) return;
  stderr.write(`${JSON.stringify({ level: levels[level], time: Date.now(), pid: process.pid, hostname: hostname(), ...fields, msg })}\n`);
}
