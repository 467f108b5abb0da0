import fp from 'fastify-plugin';
import type { Static } from 'typebox';
import type { FastifyBaseLogger } from 'fastify';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BackupResult } from '../db/backup.js';
import { isPostgresUrl } from '../db/postgres-url.js';
import { holdServingLock } from '../db/serving-lock.js';
import { isSingleBinary } from '../lib/assets.js';
import type { BackupStatus as BackupStatusSchema } from '../schemas/backup-status.js';
import { ConfigError, type Config } from './config.js';

/** What /readyz says of periodic backups. */
export type BackupStatus = Static<typeof BackupStatusSchema>;

declare module 'fastify' {
  interface FastifyInstance {
    /** Periodic backups: their state for /readyz (undefined when FOLIO_BACKUP_DIR is unset). */
    backups: { status: () => BackupStatus | undefined };
  }
}

const units = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** FOLIO_BACKUP_EVERY in milliseconds: minutes, or a number with s, m, h or d. */
export function backupIntervalMs(every: string): number {
  const unit = (/[smhd]$/.exec(every)?.[0] ?? 'm') as keyof typeof units;
  return Number.parseInt(every, 10) * units[unit];
}

/** A backup's file name says when it was made, so that they sort by name and the newest is known after a restart. */
const fileName = (at: Date) => `folio-${at.toISOString().replace(/[:.]/g, '-')}.db`;
const backupName = /^folio-(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})-(\d{3})Z\.db$/;
const timeOf = (name: string) => {
  const m = backupName.exec(name);
  return m ? Date.parse(`${m[1]}T${m[2]}:${m[3]}:${m[4]}.${m[5]}Z`) : undefined;
};

/**
 * The `folio` command of this very installation, to run `folio backup` as a process of its own: the single binary,
 * dist/cli/folio.js, or cli/folio.ts through tsx (from the sources).
 */
function folioCommand(): [string, string[]] {
  if (isSingleBinary()) return [process.execPath, []];
  const source = import.meta.url.endsWith('.ts');
  const cli = fileURLToPath(new URL(`../cli/folio.${source ? 'ts' : 'js'}`, import.meta.url));
  return [process.execPath, source ? ['--import', import.meta.resolve('tsx'), cli] : [cli]];
}

/**
 * Backs the database up into `dir` every `every`, keeping the newest `keep`, each by a `folio backup` process of its
 * own: the copy, the fsync and the integrity check of the whole file take none of the server's event loop, and a
 * crash there cannot take the server down. The next backup is due one interval after the newest in the folder
 * (at once when there is none, or it is older), and one runs at a time.
 */
class PeriodicBackups {
  private readonly intervalMs: number;
  private readonly startedAt = Date.now();
  private lastSuccess: number | undefined;
  private last: BackupStatus['last'] = null;
  private next: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private child: ReturnType<typeof spawn> | undefined;
  private closed = false;

  constructor(
    private readonly database: string,
    private readonly config: Config & { backupDir: string },
    private readonly log: FastifyBaseLogger,
  ) {
    this.intervalMs = backupIntervalMs(config.backupEvery);
  }

  get dir(): string {
    return resolve(this.config.backupDir);
  }

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const newest = (await this.backups())[0];
    this.lastSuccess = newest?.at;
    this.schedule(Math.max(Date.now(), (newest?.at ?? 0) + this.intervalMs));
  }

  private schedule(at: number): void {
    if (this.closed) return;
    this.next = at;
    this.timer = setTimeout(() => {
      this.running = this.backUp().finally(() => {
        this.running = undefined;
        this.schedule(Date.now() + this.intervalMs);
      });
    }, at - Date.now());
    // A pending backup does not keep the process alive.
    this.timer.unref();
  }

  /** The backups in the folder, newest first. */
  private async backups(): Promise<{ name: string; at: number }[]> {
    const names = await readdir(this.dir);
    return names
      .flatMap((name) => {
        const at = timeOf(name);
        return at === undefined ? [] : [{ name, at }];
      })
      .sort((a, b) => b.at - a.at);
  }

  private async backUp(): Promise<void> {
    const at = new Date();
    const file = join(this.dir, fileName(at));
    this.next = undefined;
    try {
      // What a backup killed with the server left behind.
      for (const name of await readdir(this.dir)) if (/^folio-.*\.db\.partial-\d+$/.test(name)) await rm(join(this.dir, name), { force: true });
      const result = await this.runFolioBackup(file);
      this.lastSuccess = at.getTime();
      this.last = { at: at.toISOString(), ok: true, file, bytes: result.bytes, durationMs: result.durationMs };
      this.log.info({ backup: { file, bytes: result.bytes, durationMs: result.durationMs, rows: result.tables } }, 'backup made');
      for (const old of (await this.backups()).slice(this.config.backupKeep)) {
        await rm(join(this.dir, old.name), { force: true });
        this.log.info({ backup: { file: join(this.dir, old.name) } }, `old backup removed (FOLIO_BACKUP_KEEP=${this.config.backupKeep})`);
      }
    } catch (err) {
      if (this.closed) return;
      const error = (err as Error).message;
      this.last = { at: at.toISOString(), ok: false, file, durationMs: Date.now() - at.getTime(), error };
      this.log.error({ backup: { file, error } }, 'backup failed');
    }
  }

  private runFolioBackup(file: string): Promise<BackupResult> {
    const [command, args] = folioCommand();
    return new Promise((resolve, reject) => {
      const child = spawn(command, [...args, 'backup', '--database', this.database, '--out', file, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
      this.child = child;
      let stdout = '';
      let stderr = '';
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      child.once('error', reject);
      child.once('close', (code, signal) => {
        this.child = undefined;
        if (code === 0) resolve(JSON.parse(stdout) as BackupResult);
        else reject(new Error(stderr.trim().replace(/^folio: /, '') || `folio backup ended with ${signal ?? `exit code ${code}`}`));
      });
    });
  }

  status(): BackupStatus {
    const since = this.lastSuccess ?? this.startedAt;
    const stale = Date.now() - since > 2 * this.intervalMs;
    return {
      status: stale ? 'stale' : this.last === null ? 'waiting' : this.last.ok ? 'ok' : 'failed',
      dir: this.dir,
      every: this.config.backupEvery,
      keep: this.config.backupKeep,
      last: this.last,
      lastSuccessAt: this.lastSuccess === undefined ? null : new Date(this.lastSuccess).toISOString(),
      nextAt: this.next === undefined ? null : new Date(this.next).toISOString(),
    };
  }

  /** Stops the schedule; a backup under way is stopped (its partial file is removed by the next one). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.child?.kill('SIGTERM');
    await this.running;
  }
}

/**
 * Backups of the SQLite database: this server's serving lock (db/serving-lock.ts: `folio restore` refuses while it is
 * held), taken before the database is opened so that a restore under way is never served from under it, and, with
 * FOLIO_BACKUP_DIR, periodic backups.
 */
export default fp(
  async function backupsPlugin(app) {
    const { config } = app;
    if (isPostgresUrl(config.databaseUrl)) {
      if (config.backupDir !== undefined) {
        throw new ConfigError(
          'FOLIO_BACKUP_DIR backs up SQLite databases only: back PostgreSQL up with pg_dump or continuous archiving (PITR); "folio backup" prints a pg_dump command line for this database (README, "Backups")',
        );
      }
      app.decorate('backups', { status: () => undefined });
      return;
    }
    const file = config.databaseUrl.startsWith('sqlite:') ? config.databaseUrl.slice('sqlite:'.length) : config.databaseUrl;
    if (file === ':memory:') {
      if (config.backupDir !== undefined) throw new ConfigError('FOLIO_BACKUP_DIR needs a database file, not :memory:');
      app.decorate('backups', { status: () => undefined });
      return;
    }
    const database = resolve(file);
    mkdirSync(resolve(database, '..'), { recursive: true });
    const lock = holdServingLock(database);
    app.addHook('onClose', async () => lock.release());
    if (config.backupDir === undefined) {
      app.decorate('backups', { status: () => undefined });
      return;
    }
    const periodic = new PeriodicBackups(database, { ...config, backupDir: config.backupDir }, app.log);
    app.decorate('backups', { status: () => periodic.status() });
    app.addHook('onReady', () => periodic.start());
    app.addHook('onClose', () => periodic.close());
  },
  { name: 'folio-backups', fastify: '5.x', dependencies: ['folio-config'], decorators: { fastify: ['config'] } },
);
