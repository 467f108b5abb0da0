import { Presets, SingleBar } from 'cli-progress';
import { backupSqlite, restoreSqlite, type BackupResult, type CopyReport } from '../db/backup.js';
import { isPostgresUrl, redactUrl } from '../db/postgres-url.js';
import { DatabaseInUseError } from '../db/serving-lock.js';

type Stderr = NodeJS.WritableStream & { isTTY?: boolean };

/** A command that cannot run on this database: the words, and the exit code (2: the wrong tool for it). */
export class WrongDatabaseError extends Error {
  override name = 'WrongDatabaseError';
}

const quote = (value: string) => (/^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`);

/** `pg_dump` (or `pg_restore`) options for the database of a PostgreSQL URL, without its password. */
function pgOptions(url: string): string[] {
  const u = new URL(url);
  const schema = u.searchParams.get('schema');
  return [
    `--host=${quote(decodeURIComponent(u.hostname) || 'localhost')}`,
    `--port=${u.port || '5432'}`,
    ...(u.username ? [`--username=${quote(decodeURIComponent(u.username))}`] : []),
    ...(schema ? [`--schema=${quote(schema)}`] : []),
  ];
}

const databaseName = (url: string) => quote(decodeURIComponent(new URL(url).pathname.slice(1)) || 'postgres');

/** What `folio backup` says on PostgreSQL: the pg_dump command line for FOLIO_DATABASE_URL, and PITR. */
export function postgresBackupAdvice(url: string): string {
  return (
    `"folio backup" copies SQLite databases; ${redactUrl(url)} is PostgreSQL: back it up with PostgreSQL's own tools (README, "Backups"):\n` +
    `  pg_dump --format=custom --file=folio-$(date +%Y%m%d-%H%M).dump ${pgOptions(url).join(' ')} ${databaseName(url)}\n` +
    `  (the password from PGPASSWORD or ~/.pgpass; pg_restore puts it back), or continuous archiving of the write-ahead log\n` +
    `  with point-in-time recovery (PITR): https://www.postgresql.org/docs/current/continuous-archiving.html`
  );
}

/** What `folio restore` says on PostgreSQL. */
export function postgresRestoreAdvice(url: string): string {
  return (
    `"folio restore" restores SQLite backups; ${redactUrl(url)} is PostgreSQL: restore a pg_dump archive with pg_restore, every Folio server stopped:\n` +
    `  pg_restore --clean --if-exists --single-transaction ${pgOptions(url).join(' ')} --dbname=${databaseName(url)} folio-….dump\n` +
    `  or recover to a point in time from your WAL archive (PITR): https://www.postgresql.org/docs/current/continuous-archiving.html`
  );
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

function rowsLine(report: CopyReport): string {
  return `rows: ${Object.entries(report.tables)
    .map(([table, rows]) => `${table} ${rows}`)
    .join(', ')}`;
}

/** Progress of the pages copied: a bar on a terminal, else a line at every tenth of a database of more than one step. */
function progressOf(stderr: Stderr, pagesPerStep: number): { update: (copied: number, total: number) => void; stop: () => void } {
  let bar: SingleBar | undefined;
  let shown = 0;
  return {
    update(copied, total) {
      if (stderr.isTTY) {
        if (!bar) {
          bar = new SingleBar({ stream: stderr, format: 'backing up {bar} {percentage}% | {value}/{total} pages | ETA {eta_formatted}', hideCursor: true }, Presets.shades_classic);
          bar.start(total, 0);
        }
        bar.setTotal(total);
        bar.update(copied);
      } else if (total > pagesPerStep) {
        const tenth = Math.floor((copied / total) * 10);
        if (tenth > shown) {
          shown = tenth;
          stderr.write(`backing up: ${tenth * 10}% (${copied}/${total} pages)\n`);
        }
      }
    },
    stop: () => bar?.stop(),
  };
}

export interface BackupCommandOptions {
  out: string;
  force?: boolean;
  /** The result as JSON on stdout (periodic backups read it). */
  json?: boolean;
}

/** `folio backup`: an online backup of the SQLite database, checked, with progress and a summary on stderr. */
export async function runBackup(databaseUrl: string, options: BackupCommandOptions, io: { stdout: NodeJS.WritableStream; stderr: Stderr }): Promise<BackupResult> {
  if (isPostgresUrl(databaseUrl)) throw new WrongDatabaseError(postgresBackupAdvice(databaseUrl));
  const pagesPerStep = 1024;
  const progress = progressOf(io.stderr, pagesPerStep);
  let result: BackupResult;
  try {
    result = await backupSqlite(databaseUrl, options.out, { force: options.force ?? false, pagesPerStep, onProgress: progress.update });
  } finally {
    progress.stop();
  }
  io.stderr.write(`backed up ${databaseUrl} to ${result.file}: ${mib(result.bytes)} in ${(result.durationMs / 1000).toFixed(1)} s; integrity_check: ${result.integrity}\n${rowsLine(result)}\n`);
  if (options.json) io.stdout.write(`${JSON.stringify(result)}\n`);
  return result;
}

/** `folio restore`: puts a checked backup in place of the SQLite database no server is using. */
export async function runRestore(databaseUrl: string, file: string, options: { force?: boolean }, io: { stdout: NodeJS.WritableStream }): Promise<void> {
  if (isPostgresUrl(databaseUrl)) throw new WrongDatabaseError(postgresRestoreAdvice(databaseUrl));
  try {
    const result = await restoreSqlite(file, databaseUrl, options);
    io.stdout.write(
      `restored ${result.file} (${mib(result.bytes)}; integrity_check: ${result.integrity}) into ${result.database}` +
        `${result.replaced ? `; the database it replaced is kept as ${result.replaced}` : ''}\n${rowsLine(result)}\n` +
        (result.pending.length > 0
          ? `it lacks ${result.pending.length} migration(s) of this version (${result.pending.join(', ')}): start with "folio serve --migrate"\n`
          : 'start the server: folio serve\n'),
    );
  } catch (err) {
    if (err instanceof DatabaseInUseError) throw new DatabaseInUseError(err.database, err.servers, inUseAdvice(err));
    throw err;
  }
}

function inUseAdvice(err: DatabaseInUseError): string {
  const who = err.servers.map((s) => `pid ${s.pid} on ${s.host}, started ${new Date(s.startedAt).toISOString()}`).join('; ');
  const pid = err.servers[0]?.pid;
  return (
    `the database ${err.database} is in use by a running Folio server${who ? ` (${who})` : ''}: stop it first — "systemctl stop folio", ` +
    `or ${pid ? `"kill -TERM ${pid}"` : 'SIGTERM to its process'} (it finishes the requests under way, then exits) — and run "folio restore" again. ` +
    `--force does not get around this: the server would go on writing to the file it has open, and everything it wrote after the restore would be lost.`
  );
}
