#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { addBookOrigin, BookExistsError, createBook, findBook, importToc, listBooks, removeBook, removeBookOrigin } from '../db/books.js';
import { DatabaseUrlError, ensureReachable, openDatabase, type Database } from '../db/index.js';
import { applyMigrations, pendingMigrations } from '../db/migrate.js';
import { roles, type Role } from '../db/schema.js';
import { createAccount, deleteUser, endSessionsOfUser, findUserByUsername, listAccounts, publicUser, updateUser, UsernameTakenError } from '../db/users.js';
import { hashPassword } from '../lib/passwords.js';
import { isBookId, normalizeOrigin, OriginError } from '../lib/origin.js';
import { ConfigError, loadConfig, type Config } from '../lib/config.js';
import { PendingMigrationsError } from '../plugins/db.js';
import { exportFormats, exportKinds } from '../schemas/export-kinds.js';
import { parseInstant } from '../lib/time.js';
import { BackupError } from '../db/backup.js';
import { DatabaseInUseError } from '../db/serving-lock.js';
import { runBackup, runRestore, WrongDatabaseError } from './backup.js';
import { logSecurityEvent, whoRuns } from './audit.js';
import { runExport } from './export.js';
import { MigrateDataError, runMigrateData } from './migrate-data.js';
import { confirmByTyping, workCounts, writePersonalExport } from './users.js';
import { version } from './version.js';

/** An error the user can fix, with the exit code it ends the command with (2: bad usage or value, 1: the operation failed). */
class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2,
  ) {
    super(message);
  }
}

function parseInteger(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number');
  return Number(value);
}

function bookId(value: string): string {
  if (!isBookId(value)) throw new InvalidArgumentError('a book id is 1-64 characters: lower-case letters, digits, "-" and "_", starting with a letter or digit');
  return value;
}

function origin(value: string, previous: string[] = []): string[] {
  try {
    return [...previous, normalizeOrigin(value)];
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** The configuration for this command: FOLIO_* variables overridden by the global and command flags. */
function configOf(command: Command): Config {
  return loadConfig(process.env, command.optsWithGlobals());
}

async function withDatabase<T>(command: Command, work: (db: Database) => Promise<T>): Promise<T> {
  const config = configOf(command);
  const db = openDatabase(config.databaseUrl, { poolSize: config.databasePoolSize });
  await ensureReachable(db);
  try {
    const pending = await pendingMigrations(db);
    if (pending.length > 0 && command.name() !== 'migrate') {
      throw new CliError(`the database ${db.location} has pending migrations (${pending.join(', ')}): run "folio migrate" first`, 1);
    }
    return await work(db);
  } finally {
    await db.close();
  }
}

function unknownBook(id: string): CliError {
  return new CliError(`there is no book "${id}" (see "folio books list")`, 1);
}

let serving = false;

const program = new Command('folio')
  .description('Folio: saves students\' work for interactive textbooks hosted on any web server.')
  .version(version, '-V, --version')
  .option('--database <url>', 'SQLite file path, or postgres://user:password@host:port/database[?schema=name] (FOLIO_DATABASE_URL, default ./data/folio.db)')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

program
  .command('serve')
  .description('serve the API, the browser client and the docs')
  .option('--host <address>', 'address to listen on (FOLIO_HOST, default 127.0.0.1)')
  .option('--port <number>', 'port to listen on (FOLIO_PORT, default 3000)', parseInteger)
  .option('--tls-cert <file>', 'PEM certificate: serve HTTPS (FOLIO_TLS_CERT)')
  .option('--tls-key <file>', 'PEM private key (FOLIO_TLS_KEY)')
  .option('--trust-proxy <proxies>', 'behind a TLS-terminating proxy: how many (1 for one nginx/Caddy) or their addresses/CIDRs, comma-separated; trusts their X-Forwarded-* (FOLIO_TRUST_PROXY)')
  .option('--no-demo', 'do not create the demo book on an empty database (FOLIO_DEMO=0)')
  .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (FOLIO_LOG_LEVEL)')
  .option('--migrate', 'apply pending migrations before serving instead of refusing to start')
  .addHelpText(
    'after',
    '\nOn PostgreSQL any number of processes may serve one database: set the same FOLIO_SECRET (required there) for all;\n' +
      'FOLIO_DATABASE_POOL_SIZE caps each one\'s connections (default 10); FOLIO_REDIS_URL keeps login rate limits in Redis\n' +
      'instead of the database. Every setting: .env.example.',
  )
  .action(async (opts: { migrate?: boolean; demo?: boolean }, command: Command) => {
    const flags = command.optsWithGlobals();
    // Commander sets demo=true by default for --no-demo; only an explicit --no-demo should override FOLIO_DEMO.
    if (opts.demo !== false) delete flags.demo;
    const config = loadConfig(process.env, flags);
    // Loaded here so that the other commands start without the web stack.
    const { startServer } = await import('../server.js');
    await startServer({ config, migrate: opts.migrate ?? false });
    serving = true;
  });

program
  .command('migrate')
  .description('apply pending database migrations and say which')
  .action(async (_opts, command: Command) => {
    await withDatabase(command, async (db) => {
      const applied = await applyMigrations(db);
      if (applied.length === 0) console.log(`${db.location}: up to date, nothing to apply`);
      else console.log(`${db.location}: applied ${applied.length} migration(s):\n${applied.map((m) => `  ${m}`).join('\n')}`);
    });
  });

const books = program.command('books').description('manage books and the origins allowed to call them');

books
  .command('add')
  .description('add a book with the origins (scheme://host[:port]) its pages are served from')
  .argument('<id>', 'book id: lower-case letters, digits, "-", "_"', bookId)
  .requiredOption('--title <title>', 'the book\'s title')
  .option('--origin <url>', 'an origin allowed to call Folio for this book (repeatable)', origin, [])
  .action(async (id: string, opts: { title: string; origin: string[] }, command: Command) => {
    await withDatabase(command, async (db) => {
      try {
        await createBook(db, { id, title: opts.title, origins: opts.origin });
      } catch (err) {
        if (err instanceof BookExistsError) throw new CliError(`${err.message} (see "folio books list")`, 1);
        throw err;
      }
      console.log(`added book ${id}${opts.origin.length ? ` allowing ${opts.origin.join(', ')}` : ' (no origin yet: add one with "folio books origins add")'}`);
    });
  });

books
  .command('list')
  .description('list books and their origins')
  .option('--json', 'print JSON instead of a table')
  .action(async (opts: { json?: boolean }, command: Command) => {
    await withDatabase(command, async (db) => {
      const all = await listBooks(db);
      if (opts.json) return console.log(JSON.stringify(all, null, 2));
      if (all.length === 0) return console.log('no books yet: add one with "folio books add ID --title T --origin URL"');
      const rows = [['ID', 'TITLE', 'ORIGINS'], ...all.map((b) => [b.id, b.title, b.origins.join(' ') || '-'])];
      const widths = [0, 1].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
      for (const r of rows) console.log(`${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]}`);
    });
  });

books
  .command('remove')
  .description('remove a book and its origins')
  .argument('<id>', 'book id', bookId)
  .action(async (id: string, _opts, command: Command) => {
    await withDatabase(command, async (db) => {
      if (!(await removeBook(db, id))) throw unknownBook(id);
      console.log(`removed book ${id}`);
    });
  });

const origins = books.command('origins').description('allow or stop allowing an origin for a book');

origins
  .command('add')
  .description('allow an origin to call Folio for a book (effective within a second, no restart)')
  .argument('<id>', 'book id', bookId)
  .argument('<origin>', 'scheme://host[:port]', (v: string) => origin(v)[0]!)
  .action(async (id: string, url: string, _opts, command: Command) => {
    await withDatabase(command, async (db) => {
      if (!(await addBookOrigin(db, id, url))) throw unknownBook(id);
      console.log(`book ${id} now allows ${url}`);
    });
  });

origins
  .command('remove')
  .description('stop allowing an origin for a book')
  .argument('<id>', 'book id', bookId)
  .argument('<origin>', 'scheme://host[:port]', (v: string) => origin(v)[0]!)
  .action(async (id: string, url: string, _opts, command: Command) => {
    await withDatabase(command, async (db) => {
      const result = await removeBookOrigin(db, id, url);
      if (result === 'no-book') throw unknownBook(id);
      if (result === 'no-origin') throw new CliError(`book ${id} does not allow ${url} (see "folio books list")`, 1);
      console.log(`book ${id} no longer allows ${url}`);
    });
  });

const toc = books.command('toc').description("a book's table of contents: chapters, pages, questions with their points, activities");

toc
  .command('import')
  .description("import a book's table of contents from the JSON file its build writes, replacing the one it had")
  .argument('<id>', 'book id', bookId)
  .argument('<file>', 'the JSON file')
  .addHelpText(
    'after',
    `
The file: {"chapters": [{"id", "title", "pages": [{"id", "title", "questions": [{"id", "kind", "points"}],
"activities": [{"id"}]}]}]} — page ids as the book's \`page\` values (e.g. ch1/intro), question and activity ids
as the book saves its answers and programs under, kind one of the answer kinds. Other properties are allowed and
not stored. Its JSON Schema is docs/toc.schema.json in Folio's repository; README "Table of contents".
A file with mistakes changes nothing: every one is listed with its place (chapters[0].pages[2].id). Students'
work is kept as it is, also on pages and questions the new table no longer lists.`,
  )
  .action(async (id: string, file: string, _opts, command: Command) => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new CliError(`cannot read ${file}: ${(err as Error).message}`, 2);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new CliError(`${file} is not JSON: ${(err as Error).message}`, 2);
    }
    // Loaded here: AJV and TypeBox cost every other command their load time (bench/RESULTS.md, "CLI start-up").
    const { checkToc } = await import('../lib/toc.js');
    const checked = checkToc(parsed);
    if ('problems' in checked) {
      throw new CliError(`${file} is not a table of contents Folio can import (nothing was changed):\n  ${checked.problems.join('\n  ')}\n(see "folio books toc import --help")`, 2);
    }
    await withDatabase(command, async (db) => {
      if (!(await importToc(db, id, checked.toc))) throw unknownBook(id);
      const pages = checked.toc.chapters.flatMap((c) => c.pages);
      const questions = pages.flatMap((p) => p.questions);
      const points = questions.reduce((sum, q) => sum + q.points, 0);
      const activities = pages.reduce((sum, p) => sum + p.activities.length, 0);
      console.log(
        `imported the table of contents of ${id}: ${checked.toc.chapters.length} chapter(s), ${pages.length} page(s), ${questions.length} question(s) worth ${points} point(s), ${activities} activit${activities === 1 ? 'y' : 'ies'}`,
      );
    });
  });

const users = program.command('users').description('manage accounts (students register themselves; instructors and admins are added here)');

async function passwordFromStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('password (then Enter, Ctrl-D): ');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (password.length < 10 || password.length > 1024) throw new CliError('the password on stdin must be 10-1024 characters', 2);
  return password;
}

function role(value: string): Role {
  if (!(roles as readonly string[]).includes(value)) throw new InvalidArgumentError(`a role is one of ${roles.join(', ')}`);
  return value as Role;
}

function username(value: string): string {
  if (!/^[A-Za-z0-9._@+-]{3,64}$/.test(value)) throw new InvalidArgumentError('a username is 3-64 characters: letters, digits and . _ @ + -');
  return value;
}

async function requireAccount(db: Database, name: string) {
  const user = await findUserByUsername(db, name);
  if (!user || user.anonymous) throw new CliError(`there is no user "${name}" (see "folio users list")`, 1);
  return user;
}

users
  .command('add')
  .description('add an account; the password is read from stdin')
  .argument('<username>', 'username (3-64 characters)', username)
  .option('--role <role>', `one of ${roles.join(', ')}`, role, 'student' as Role)
  .option('--name <name>', 'display name')
  .option('--email <email>', 'email address')
  .requiredOption('--password-stdin', 'read the password from standard input (required: passwords never go on the command line)')
  .action(async (name: string, opts: { role: Role; name?: string; email?: string }, command: Command) => {
    await withDatabase(command, async (db) => {
      const passwordHash = await hashPassword(await passwordFromStdin(), configOf(command).passwordCost);
      let user;
      try {
        user = await createAccount(db, { username: name, passwordHash, role: opts.role, name: opts.name, email: opts.email });
      } catch (err) {
        if (err instanceof UsernameTakenError) throw new CliError(err.message, 1);
        throw err;
      }
      logSecurityEvent(configOf(command), { event: 'role_changed', by: whoRuns(), user: name, userId: user.id, from: null, to: opts.role }, 'account added with a role');
      console.log(`added ${opts.role} ${name}`);
    });
  });

users
  .command('list')
  .description('list accounts (anonymous users are not listed)')
  .option('--json', 'print JSON instead of a table')
  .action(async (opts: { json?: boolean }, command: Command) => {
    await withDatabase(command, async (db) => {
      const all = (await listAccounts(db)).map(publicUser);
      if (opts.json) return console.log(JSON.stringify(all, null, 2));
      if (all.length === 0) return console.log('no accounts yet');
      const rows = [['USERNAME', 'ROLE', 'NAME', 'EMAIL'], ...all.map((u) => [u.username ?? '', u.role, u.name ?? '-', u.email ?? '-'])];
      const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
      for (const r of rows) console.log(`${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]!.padEnd(widths[2]!)}  ${r[3]}`);
    });
  });

users
  .command('set-role')
  .description('change an account\'s role')
  .argument('<username>', 'username')
  .argument('<role>', `one of ${roles.join(', ')}`, role)
  .action(async (name: string, newRole: Role, _opts, command: Command) => {
    await withDatabase(command, async (db) => {
      const user = await requireAccount(db, name);
      await updateUser(db, user.id, { role: newRole });
      logSecurityEvent(configOf(command), { event: 'role_changed', by: whoRuns(), user: user.username, userId: user.id, from: user.role, to: newRole }, 'role changed');
      console.log(`${user.username} is now ${newRole}`);
    });
  });

users
  .command('reset-password')
  .description('set a new password (read from stdin) and end all of the user\'s sessions')
  .argument('<username>', 'username')
  .requiredOption('--password-stdin', 'read the new password from standard input')
  .action(async (name: string, _opts, command: Command) => {
    await withDatabase(command, async (db) => {
      const user = await requireAccount(db, name);
      const passwordHash = await hashPassword(await passwordFromStdin(), configOf(command).passwordCost);
      await updateUser(db, user.id, { passwordHash });
      const ended = await endSessionsOfUser(db, user.id);
      console.log(`new password set for ${user.username}; ended ${ended} session(s)`);
    });
  });

users
  .command('export')
  .description('write everything Folio holds about an account as JSON (what GET /api/auth/me/export gives the student)')
  .argument('<username>', 'username')
  .option('--out <file>', 'write FILE (complete, or not at all; readable by you only) instead of stdout')
  .addHelpText('after', '\nThe account without its password hash, its sessions, every program version, answer attempt and event, positions and\ncompleted pages of every book. The file holds personal data: hand it to the student, then delete it.')
  .action(async (name: string, opts: { out?: string }, command: Command) => {
    await withDatabase(command, async (db) => {
      const user = await requireAccount(db, name);
      logSecurityEvent(configOf(command), { event: 'personal_export', by: whoRuns(), user: user.username, userId: user.id }, 'personal data export');
      await writePersonalExport(db, user.id, opts.out, process.stdout);
      if (opts.out !== undefined) console.error(`wrote everything about ${user.username} to ${opts.out}`);
    });
  });

users
  .command('delete')
  .description('delete an account and all of its work, sessions and login counters (what DELETE /api/auth/me does)')
  .argument('<username>', 'username')
  .option('--yes', 'do not ask: required when stdin is not a terminal (scripts)')
  .addHelpText('after', '\nOn a terminal it shows what will be deleted and asks you to type the username again. It cannot be undone: export\nthe account first ("folio users export NAME --out FILE") if the student asked for a copy.')
  .action(async (name: string, opts: { yes?: boolean }, command: Command) => {
    await withDatabase(command, async (db) => {
      const user = await requireAccount(db, name);
      if (!opts.yes) {
        if (!process.stdin.isTTY) {
          throw new CliError(`not deleting ${user.username}: stdin is not a terminal, so nothing can be confirmed. Run "folio users delete ${user.username} --yes" to delete the account and all of its work`, 2);
        }
        const confirmed = await confirmByTyping(
          user.username!,
          `This deletes ${user.username} (${user.role}) and all of their work: ${await workCounts(db, user.id)}. It cannot be undone.\nType the username (${user.username}) to delete it: `,
        );
        if (!confirmed) throw new CliError(`not deleted: the username typed was not ${user.username}`, 1);
      }
      await deleteUser(db, user.id);
      logSecurityEvent(configOf(command), { event: 'account_deleted', by: whoRuns(), user: user.username, userId: user.id, anonymous: false }, 'account deleted');
      console.log(`deleted ${user.username} and all of their work`);
    });
  });

function oneOf<T extends string>(values: readonly T[]): (value: string) => T {
  return (value) => {
    if (!(values as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${values.join(', ')}`);
    return value as T;
  };
}

function instant(value: string): number {
  const ms = parseInstant(value);
  if (ms === undefined) throw new InvalidArgumentError('expected an ISO 8601 date (2026-09-01, midnight UTC) or date-time with a zone (2026-09-01T08:00:00Z)');
  return ms;
}

program
  .command('export')
  .description('export a book\'s research data of consenting students, pseudonymised, as JSON Lines, CSV or xAPI statements')
  .requiredOption('--book <id>', 'book id', bookId)
  .option('--kind <kind>', exportKinds.join(', '), oneOf(exportKinds), 'events')
  .option('--format <format>', exportFormats.join(', '), oneOf(exportFormats), 'jsonl')
  .option('--since <time>', 'only rows at or after this server time: 2026-09-01 or 2026-09-01T08:00:00Z', instant)
  .option('--until <time>', 'only rows before this server time (default and at most: now)', instant)
  .option('--identify', 'add user ids, usernames, names and emails to the pseudonyms (said on stderr)')
  .option('--public-origin <url>', 'the origin students reach Folio at: home page of xAPI actors (FOLIO_PUBLIC_ORIGIN)')
  .option('--out <file>', 'write FILE (complete, or not at all) instead of stdout')
  .option('--csv-raw', "csv: write text as stored; by default text starting with = + - @ TAB or CR gets a leading ' so spreadsheets do not run it as a formula")
  .addHelpText(
    'after',
    '\nData goes to stdout or --out; a progress bar (on a terminal) and a summary go to stderr. The summary says how many users were\nleft out for want of research consent, and the --since that continues where this export ended. Stored rows that cannot be\nwritten (e.g. a time no date can show) are left out and counted in a warning on stderr.',
  )
  .action(async (opts: { book: string; kind: (typeof exportKinds)[number]; format: (typeof exportFormats)[number]; since?: number; until?: number; identify?: boolean; out?: string; csvRaw?: boolean }, command: Command) => {
    if (opts.since !== undefined && opts.until !== undefined && opts.since > opts.until) throw new CliError('--since must not be after --until', 2);
    await withDatabase(command, async (db) => {
      if (!(await findBook(db, opts.book))) throw unknownBook(opts.book);
      const identified = opts.identify ?? false;
      logSecurityEvent(configOf(command), { event: 'export', by: whoRuns(), book: opts.book, kind: opts.kind, format: opts.format, identified }, identified ? 'research export with identities (identify=true)' : 'research export', identified ? 'warn' : 'info');
      await runExport(db, configOf(command), { ...opts, identify: opts.identify ?? false }, { stdout: process.stdout, stderr: process.stderr });
    });
  });

program
  .command('migrate-data')
  .description('copy a SQLite database into an empty PostgreSQL database, keeping every row and id, then compare row counts')
  .requiredOption('--from <sqlite>', 'the SQLite database: sqlite:PATH or a file path (fully migrated: "folio migrate --database PATH")')
  .requiredOption('--to <url>', 'the PostgreSQL database: postgres://user:password@host:port/database[?schema=name]')
  .addHelpText(
    'after',
    '\nStop every Folio server on both databases first: the copy reads one snapshot of the SQLite file, and what is saved\n' +
      'after it is not copied. The target is migrated, must be empty (every Folio table without rows; the command refuses\n' +
      'otherwise and writes nothing), and is filled in one transaction: a failure leaves it empty. Ids are kept and new ones\n' +
      'continue after them. At the end the rows of every table are counted on both sides (exit 1 if any differs).\n' +
      'Then serve from PostgreSQL with the secret the SQLite server used (its FOLIO_SECRET, or the folio.secret file next to\n' +
      'its database): another secret ends every session and changes the pseudonyms in research exports.',
  )
  .action(async (opts: { from: string; to: string }) => {
    try {
      await runMigrateData(opts.from, opts.to, process.stderr);
    } catch (err) {
      if (err instanceof MigrateDataError) throw new CliError(err.message, err.exitCode);
      throw err;
    }
  });

// Backups: `folio backup` and `folio restore` (SQLite; on PostgreSQL they say what to use instead).
program
  .command('backup')
  .description('copy the live SQLite database to FILE (SQLite\'s online backup, while servers keep serving), then check the copy')
  .requiredOption('--out <file>', 'the backup file to write (its folder must exist)')
  .option('--force', 'replace FILE if it exists')
  .option('--json', 'also print the result as JSON on stdout')
  .addHelpText(
    'after',
    '\nThe copy is one moment of the database: every write acknowledged before the backup started is in it. It is checked\n' +
      '(PRAGMA integrity_check, rows per table) before it is named FILE; progress and a summary go to stderr. Exit 1 if\n' +
      'FILE exists (without --force) or the check fails. Also keep FOLIO_SECRET (or folio.secret next to the database)\n' +
      'somewhere safe: without it, a restored database keeps its data but ends every session and changes pseudonyms.\n' +
      'On PostgreSQL this command prints a pg_dump command line for FOLIO_DATABASE_URL and exits with 2.\n' +
      'Periodic backups by the server itself: FOLIO_BACKUP_DIR, FOLIO_BACKUP_EVERY, FOLIO_BACKUP_KEEP (README, "Backups").',
  )
  .action(async (opts: { out: string; force?: boolean; json?: boolean }, command: Command) => {
    await runBackup(configOf(command).databaseUrl, opts, { stdout: process.stdout, stderr: process.stderr });
  });

program
  .command('restore')
  .description('replace the SQLite database with a backup, after checking it, when no server is using the database')
  .argument('<file>', 'a backup made by "folio backup" (or by periodic backups)')
  .option('--force', 'replace an existing database (it is kept as DATABASE.replaced-TIME); never overrides a running server')
  .addHelpText(
    'after',
    '\nFILE must pass PRAGMA integrity_check and be a Folio database whose migrations this version knows. The database must\n' +
      'not be in use: every "folio serve" on it holds a lock (DATABASE.serving) that the system drops when the server ends,\n' +
      'however it ends. Stop the server first (systemctl stop folio, or kill -TERM PID); --force does not get around a\n' +
      'running server. Exit 1 when the restore is refused; on PostgreSQL it prints a pg_restore command line and exits with 2.',
  )
  .action(async (file: string, opts: { force?: boolean }, command: Command) => {
    await runRestore(configOf(command).databaseUrl, file, opts, { stdout: process.stdout });
  });

async function main(argv: string[]): Promise<number> {
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed help, the version or the usage error.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof ConfigError || err instanceof OriginError || err instanceof DatabaseUrlError) {
      console.error(`folio: ${err.message}`);
      return 2;
    }
    if (err instanceof CliError) {
      console.error(`folio: ${err.message}`);
      return err.exitCode;
    }
    if (err instanceof BackupError || err instanceof DatabaseInUseError) {
      console.error(`folio: ${err.message}`);
      return 1;
    }
    if (err instanceof WrongDatabaseError) {
      console.error(`folio: ${err.message}`);
      return 2;
    }
    if (err instanceof PendingMigrationsError) {
      console.error(`folio: ${err.message}`);
      return 1;
    }
    console.error(`folio: ${(err as Error).stack ?? String(err)}`);
    return 1;
  }
}

// No top-level await: the single binary runs this file as CommonJS.
void main(process.argv).then((code) => {
  // `serve` keeps running until a signal; every other command ends here.
  if (code !== 0 || !serving) process.exit(code);
});
