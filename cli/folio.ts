#!/usr/bin/env node
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { addBookOrigin, BookExistsError, createBook, listBooks, removeBook, removeBookOrigin } from '../db/books.js';
import { DatabaseUrlError, openDatabase, type Database } from '../db/index.js';
import { applyMigrations, pendingMigrations } from '../db/migrate.js';
import { isBookId, normalizeOrigin, OriginError } from '../lib/origin.js';
import { ConfigError, loadConfig, type Config } from '../plugins/config.js';
import { PendingMigrationsError } from '../plugins/db.js';
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
  const db = openDatabase(configOf(command).databaseUrl);
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
  .option('--database <url>', 'SQLite file path or postgres:// URL (FOLIO_DATABASE_URL, default ./data/folio.db)')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

program
  .command('serve')
  .description('serve the API, the browser client and the docs')
  .option('--host <address>', 'address to listen on (FOLIO_HOST, default 127.0.0.1)')
  .option('--port <number>', 'port to listen on (FOLIO_PORT, default 3000)', parseInteger)
  .option('--tls-cert <file>', 'PEM certificate: serve HTTPS (FOLIO_TLS_CERT)')
  .option('--tls-key <file>', 'PEM private key (FOLIO_TLS_KEY)')
  .option('--trust-proxy', 'behind a TLS-terminating proxy: trust X-Forwarded-* (FOLIO_TRUST_PROXY)')
  .option('--no-demo', 'do not create the demo book on an empty database (FOLIO_DEMO=0)')
  .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (FOLIO_LOG_LEVEL)')
  .option('--migrate', 'apply pending migrations before serving instead of refusing to start')
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
    if (err instanceof PendingMigrationsError) {
      console.error(`folio: ${err.message}`);
      return 1;
    }
    console.error(`folio: ${(err as Error).stack ?? String(err)}`);
    return 1;
  }
}

const code = await main(process.argv);
// `serve` keeps running until a signal; every other command ends here.
if (code !== 0 || !serving) process.exit(code);
