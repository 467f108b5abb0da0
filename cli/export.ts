import { Presets, SingleBar } from 'cli-progress';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { pipeline } from 'node:stream/promises';
import { openExport, type ExportFormat, type ExportKind, type ExportMeta } from '../db/exports.js';
import type { Database } from '../db/index.js';
import { resolveSecret } from '../lib/secret.js';
import type { Config } from '../lib/config.js';

export interface ExportOptions {
  book: string;
  kind: ExportKind;
  format: ExportFormat;
  since?: number | undefined;
  until?: number | undefined;
  identify: boolean;
  /** A file to write (through FILE.partial, renamed when complete); stdout when undefined. */
  out?: string | undefined;
  /** CSV: write text as stored, formulas and all, instead of neutralising it (lib/csv.ts). */
  csvRaw?: boolean | undefined;
}

export interface ExportIo {
  stdout: NodeJS.WritableStream;
  /** Messages, and the progress bar when it is a terminal. */
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/** Where xAPI actors live when FOLIO_PUBLIC_ORIGIN is unset: the address `folio serve` would listen on. */
function fallbackHomePage(config: Config): string {
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return `${config.tlsCert ? 'https' : 'http'}://${host}:${config.port}`;
}

/** The account running the command, for the record of an export with identities. */
function whoRuns(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? `uid ${process.getuid?.() ?? '?'}`;
  }
}

/** A bar of rows, percentage and rows/s on a terminal, redrawn a few times a second. */
function progressBar(stderr: ExportIo['stderr'], total: number, rows: () => number): () => void {
  const bar = new SingleBar(
    { stream: stderr, format: 'exporting {bar} {percentage}% | {value}/{total} rows | {rate} rows/s | ETA {eta_formatted}', hideCursor: true, etaBuffer: 50 },
    Presets.shades_classic,
  );
  const started = Date.now();
  const rate = () => Math.round(rows() / Math.max((Date.now() - started) / 1000, 0.001));
  bar.start(total, 0, { rate: 0 });
  const timer = setInterval(() => bar.update(rows(), { rate: rate() }), 100);
  return () => {
    clearInterval(timer);
    bar.update(rows(), { rate: rate() });
    bar.stop();
  };
}

/** `folio export`: the same export as `GET /api/books/:book/export`, to stdout or a file, with messages on stderr. */
export async function runExport(db: Database, config: Config, options: ExportOptions, io: ExportIo): Promise<{ meta: ExportMeta; rows: number }> {
  const homePage = config.publicOrigin ?? fallbackHomePage(config);
  if (options.format === 'xapi' && !config.publicOrigin) {
    io.stderr.write(`folio: FOLIO_PUBLIC_ORIGIN is not set: xAPI actors get ${homePage} as their home page (set it to the origin students reach Folio at, so that exports from the API and the CLI agree)\n`);
  }
  if (options.identify) {
    io.stderr.write(`folio: exporting identities (user ids, usernames, names, emails) of consenting users of ${options.book}, as ${whoRuns()}\n`);
  }
  const exported = await openExport(db, { ...options, secret: resolveSecret(config), homePage, csvFormulas: options.csvRaw ? 'raw' : 'escape' });
  const { meta, stream } = exported;
  const stopBar = io.stderr.isTTY ? progressBar(io.stderr, await exported.countRows(), () => stream.rows) : undefined;
  try {
    if (options.out === undefined) {
      await pipeline(stream, io.stdout, { end: false });
    } else {
      const partial = `${options.out}.partial`;
      try {
        await pipeline(stream, createWriteStream(partial));
        await rename(partial, options.out);
      } catch (err) {
        await rm(partial, { force: true });
        throw err;
      }
    }
  } catch (err) {
    // A reader that stops early (`folio export … | head`) is not an error.
    if ((err as NodeJS.ErrnoException).code !== 'EPIPE') throw err;
    return { meta, rows: stream.rows };
  } finally {
    stopBar?.();
  }
  if (stream.skipped > 0) {
    io.stderr.write(`folio: warning: left out ${stream.skipped} stored row(s) that could not be written (the first: ${stream.firstSkip})\n`);
  }
  const left = meta.excludedUsers === 0 ? 'no user left out' : `${meta.excludedUsers} user(s) without research consent left out`;
  io.stderr.write(
    `exported ${stream.rows} ${meta.kind} row(s) of ${meta.users} user(s) (${left}, ${meta.pseudonymised ? 'pseudonymised' : 'identified'}) to ${options.out ?? 'stdout'}; ` +
      `continue later with --since ${meta.until}\n`,
  );
  return { meta, rows: stream.rows };
}
