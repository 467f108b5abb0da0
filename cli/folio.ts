#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { addBookOrigin, BookExistsError, createBook, findBook, importToc, listBooks, removeBook, removeBookOrigin } from '../db/books.js';
import { DatabaseUrlError, ensureReachable, openDatabase, type Database } from '../db/index.js';
import { applyMigrations, coursesMigration, pendingMigrations, retiredInstructorRole } from '../db/migrate.js';
import { roles, staffRoles, type Role, type StaffRole } from '../db/schema.js';
import { addStaff, CourseExistsError, createCourse, findCourse, listCourses, migratedCourses, removeStaff, rotateJoinCode, setCourseOpen, staffRole, unenrol } from '../db/courses.js';
import { newPasswordLink, passwordLinkUrl } from '../db/password-links.js';
import { countsByCourse, enrolUsernames, importRoster, parseRoster } from '../db/roster.js';
import { createAccount, deleteUser, endSessionsOfUser, findUserByUsername, listAccounts, publicUser, updateUser, UsernameTakenError } from '../db/users.js';
import { hashPassword } from '../lib/passwords.js';
import { isBookId, normalizeOrigin, OriginError } from '../lib/origin.js';
import { ConfigError, loadConfig, publicOriginOf, type Config } from '../lib/config.js';
import { PendingMigrationsError } from '../plugins/db.js';
import { exportFormats, exportKinds } from '../schemas/export-kinds.js';
import { parseInstant } from '../lib/time.js';
import { BackupError } from '../db/backup.js';
import { DatabaseInUseError } from '../db/serving-lock.js';
import { runBackup, runRestore, WrongDatabaseError } from './backup.js';
import { logSecurityEvent, whoRuns } from './audit.js';
import { runExport } from './export.js';
import { confirmByTyping, workCounts, writePersonalExport } from './users.js';
import { courseTable, describeCourse, describeRetiredRole, describeRosterSync, listedCourse, table } from './courses.js';
import { describeRotation, describeToolInfo, listedPlatform, platformTable, toolInfo } from './lti.js';
import { version } from './version.js';
import { createExperiment, ExperimentCourseError, ExperimentExistsError, experimentReport, findExperiment, listExperiments, stopExperiment } from '../db/experiments.js';
import { experimentIdPattern, parseVariants, type Variant } from '../lib/experiments.js';
import { describeExperiment, experimentTable, listedExperiment, reportText } from './experiments.js';
import { addPlatform, listPlatforms, LtiPlatformError, LtiPlatformExistsError, removePlatform } from '../db/lti.js';
import { LtiKeyError, rotateKeys, signingKey } from '../lib/lti-keys.js';
import { resolveSecret } from '../lib/secret.js';
import { maxRosterPages, RosterSyncError, syncRoster } from '../lib/lti-roster.js';
import { addProvider, findProvider, isProviderId, listProviders, OidcProviderExistsError, removeProvider } from '../db/oidc.js';
import { callbackUrlOf, discoverProvider, emailDomain, OidcError, sealClientSecret } from '../lib/oidc.js';

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
  const db = await openDatabase(config.databaseUrl, { poolSize: config.databasePoolSize });
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
  .description('apply pending database migrations and say which (and what the one retiring the instructor role did)')
  .action(async (_opts, command: Command) => {
    await withDatabase(command, async (db) => {
      const applied = await applyMigrations(db);
      if (applied.length === 0) console.log(`${db.location}: up to date, nothing to apply`);
      else console.log(`${db.location}: applied ${applied.length} migration(s):\n${applied.map((m) => `  ${m}`).join('\n')}`);
      if (retiredInstructorRole(db, applied)) console.log(describeRetiredRole(coursesMigration[db.dialect], await migratedCourses(db)));
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
as the book saves its answers and programs under, kind one of the answer kinds; a page may give its "url", its path
on the book's origins, when it is not /ID.html (LTI links use it). Other properties are allowed and
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

const users = program.command('users').description('manage accounts (students register themselves or come from a course roster; admins and researchers are added here)');

async function passwordFromStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('password (then Enter, Ctrl-D): ');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (password.length < 10 || password.length > 1024) throw new CliError('the password on stdin must be 10-1024 characters', 2);
  return password;
}

/** What to do instead of giving the retired server-wide instructor role. */
function instructorRetired(name: string): CliError {
  return new CliError(
    `nothing was changed: the server-wide instructor role is retired, instructors are staff of a course now. Run "folio courses staff add COURSE ${name} --role instructor" (for an account made with "folio users add ${name} --password-stdin"; see "folio courses --help")`,
    2,
  );
}

/** A server-wide role, or `instructor`, which the commands refuse saying what to do instead. */
function role(value: string): Role | 'instructor' {
  if (value === 'instructor') return value;
  if (!(roles as readonly string[]).includes(value)) throw new InvalidArgumentError(`a role is one of ${roles.join(', ')} (instructors and TAs are per course: "folio courses staff add")`);
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
  .option('--role <role>', `server-wide role: ${roles.join('|')} (instructors and TAs are per course: "folio courses staff add")`, role, 'student' as Role)
  .option('--name <name>', 'display name')
  .option('--email <email>', 'email address')
  .requiredOption('--password-stdin', 'read the password from standard input (required: passwords never go on the command line)')
  .action(async (name: string, opts: { role: Role | 'instructor'; name?: string; email?: string }, command: Command) => {
    const { role } = opts;
    if (role === 'instructor') throw instructorRetired(name);
    await withDatabase(command, async (db) => {
      const passwordHash = await hashPassword(await passwordFromStdin(), configOf(command).passwordCost);
      let user;
      try {
        user = await createAccount(db, { username: name, passwordHash, role, name: opts.name, email: opts.email });
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
  .argument('<role>', `server-wide role: ${roles.join('|')} (instructors and TAs are per course: "folio courses staff add")`, role)
  .action(async (name: string, newRole: Role | 'instructor', _opts, command: Command) => {
    if (newRole === 'instructor') throw instructorRetired(name);
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

users
  .command('password-link')
  .description('print a new set-password link for an account (e.g. one made from a course roster whose link expired)')
  .argument('<username>', 'username')
  .addHelpText(
    'after',
    '\nThe link (FOLIO_PUBLIC_ORIGIN/account/set-password#token=…) works once, for FOLIO_PASSWORD_LINK_DAYS days (default 14);\n' +
      'setting a password with it ends every other link of the account. Send it to the person only: whoever opens it\n' +
      'sets the password. Works for any account; its current password (if any) works until the link is used.',
  )
  .action(async (name: string, _opts, command: Command) => {
    await withDatabase(command, async (db) => {
      const user = await requireAccount(db, name);
      const config = configOf(command);
      const token = await newPasswordLink(db, user.id, config.passwordLinkDays);
      logSecurityEvent(config, { event: 'password_link_created', by: whoRuns(), user: user.username, userId: user.id }, 'set-password link created');
      console.log(passwordLinkUrl(publicOriginOf(config), token));
      console.error(`a set-password link for ${user.username}, valid ${config.passwordLinkDays} day(s), once`);
    });
  });

const courses = program.command('courses').description('manage courses: a class using a book, with its staff, students and join code');

/** A course id: a slug as book ids are. */
function courseId(value: string): string {
  if (!isBookId(value)) throw new InvalidArgumentError('a course id is 1-64 characters: lower-case letters, digits, "-" and "_", starting with a letter or digit');
  return value;
}

function unknownCourseError(id: string): CliError {
  return new CliError(`there is no course "${id}" (see "folio courses list")`, 1);
}

async function requireCourse(db: Database, id: string) {
  const course = await findCourse(db, id);
  if (!course) throw unknownCourseError(id);
  return course;
}

courses
  .command('add')
  .description('add a course on a book: it starts open, with a new join code')
  .argument('<id>', 'course id: lower-case letters, digits, "-", "_" (e.g. cs101-2026)', courseId)
  .requiredOption('--book <book>', 'the book the course uses (see "folio books list")', bookId)
  .requiredOption('--title <title>', "the course's title, as students see it")
  .option('--term <term>', 'the term, e.g. "Autumn 2026"')
  .option('--starts <date>', "reports show work from this time on: 2026-09-01 or 2026-09-01T08:00:00Z", instant)
  .option('--ends <date>', 'reports show work before this time', instant)
  .action(async (id: string, opts: { book: string; title: string; term?: string; starts?: number; ends?: number }, command: Command) => {
    if (opts.starts !== undefined && opts.ends !== undefined && opts.starts >= opts.ends) throw new CliError('--starts must be before --ends', 2);
    await withDatabase(command, async (db) => {
      if (!(await findBook(db, opts.book))) throw unknownBook(opts.book);
      let course;
      try {
        course = await createCourse(db, { id, bookId: opts.book, title: opts.title, term: opts.term, startsAt: opts.starts, endsAt: opts.ends });
      } catch (err) {
        if (err instanceof CourseExistsError) throw new CliError(`${err.message}: choose another id (see "folio courses list")`, 1);
        throw err;
      }
      console.log(describeCourse(course));
    });
  });

courses
  .command('list')
  .description('list courses: book, title, term, open or closed, join code, how many staff and students')
  .option('--book <book>', "only this book's courses", bookId)
  .option('--json', 'print a JSON array instead of a table')
  .action(async (opts: { book?: string; json?: boolean }, command: Command) => {
    await withDatabase(command, async (db) => {
      const [found, counts] = await Promise.all([listCourses(db, opts.book), countsByCourse(db)]);
      const listed = found.map((c) => listedCourse(c, counts.get(c.id)));
      if (opts.json) return console.log(JSON.stringify(listed, null, 2));
      if (listed.length === 0) return console.log(`no courses${opts.book ? ` of book ${opts.book}` : ''} yet: add one with "folio courses add ID --book B --title T"`);
      console.log(courseTable(listed));
    });
  });

const staff = courses.command('staff').description("a course's staff: instructors (change the course and its roster) and TAs (read its reports and roster)");

staff
  .command('add')
  .description("make an account staff of a course, or change its staff role")
  .argument('<id>', 'course id', courseId)
  .argument('<username>', 'an existing account (see "folio users list")')
  .requiredOption('--role <role>', 'instructor or ta', oneOf(staffRoles))
  .action(async (id: string, name: string, opts: { role: StaffRole }, command: Command) => {
    await withDatabase(command, async (db) => {
      const course = await requireCourse(db, id);
      const user = await requireAccount(db, name);
      const before = await staffRole(db, course.id, user.id);
      await addStaff(db, course.id, user.id, opts.role);
      logSecurityEvent(configOf(command), { event: 'course_staff_changed', by: whoRuns(), course: course.id, user: user.username, userId: user.id, from: before ?? null, to: opts.role }, 'course staff changed');
      console.log(before === undefined ? `${user.username} is now ${opts.role} of ${course.id}` : `${user.username} is now ${opts.role} of ${course.id} (was ${before})`);
    });
  });

staff
  .command('remove')
  .description("end an account's place on a course's staff")
  .argument('<id>', 'course id', courseId)
  .argument('<username>', 'username')
  .action(async (id: string, name: string, _opts, command: Command) => {
    await withDatabase(command, async (db) => {
      const course = await requireCourse(db, id);
      const user = await requireAccount(db, name);
      const before = await staffRole(db, course.id, user.id);
      if (!(await removeStaff(db, course.id, user.id))) throw new CliError(`${user.username} is not staff of ${course.id}`, 1);
      logSecurityEvent(configOf(command), { event: 'course_staff_changed', by: whoRuns(), course: course.id, user: user.username, userId: user.id, from: before ?? null, to: null }, 'course staff changed');
      console.log(`${user.username} is no longer staff of ${course.id}`);
    });
  });

courses
  .command('enroll')
  .description('enrol existing accounts in a course by username (all or none: an unknown username enrols nobody)')
  .argument('<id>', 'course id', courseId)
  .argument('<username...>', 'usernames (see "folio users list"; accounts to make: "folio courses roster import")')
  .action(async (id: string, names: string[], _opts, command: Command) => {
    await withDatabase(command, async (db) => {
      const course = await requireCourse(db, id);
      const result = await enrolUsernames(db, course.id, names, 'staff');
      if ('unknown' in result) {
        throw new CliError(`no account has the username(s) ${result.unknown.join(', ')}: nobody was enrolled (make accounts with "folio courses roster import ${course.id} FILE.csv")`, 1);
      }
      console.log(`enrolled ${result.enrolled} student(s) in ${course.id}${result.alreadyEnrolled > 0 ? `; ${result.alreadyEnrolled} already were` : ''}`);
    });
  });

courses
  .command('unenroll')
  .description('take a student out of a course (their work stays theirs)')
  .argument('<id>', 'course id', courseId)
  .argument('<username>', 'username')
  .action(async (id: string, name: string, _opts, command: Command) => {
    await withDatabase(command, async (db) => {
      const course = await requireCourse(db, id);
      const user = await requireAccount(db, name);
      if (!(await unenrol(db, course.id, user.id))) throw new CliError(`${user.username} is not enrolled in ${course.id}`, 1);
      console.log(`${user.username} is no longer enrolled in ${course.id}`);
    });
  });

const roster = courses.command('roster').description("a course's students from a file");

roster
  .command('import')
  .description('enrol the students of a CSV file (username,name,email), making accounts for new usernames')
  .argument('<id>', 'course id', courseId)
  .argument('<file>', 'the CSV file')
  .addHelpText(
    'after',
    `
The file: a header line naming the columns, then one student a line, e.g.
  username,name,email
  ada,Ada Lovelace,ada@example.edu
name and email may be left out (of the header, or empty on a line); usernames are 3-64 letters, digits and . _ @ + -.
A file with mistakes changes nothing: every bad line is listed (exit 2). Otherwise, in one transaction: existing
accounts are enrolled as they are (never changed); each new username becomes an account without a password, and
its set-password link is printed on stdout as "username<TAB>link" (send each to its student; it works once, for
FOLIO_PASSWORD_LINK_DAYS days; "folio users password-link NAME" makes a new one). A summary goes to stderr.`,
  )
  .action(async (id: string, file: string, _opts, command: Command) => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new CliError(`cannot read ${file}: ${(err as Error).message}`, 2);
    }
    const { entries, problems } = parseRoster(text);
    if (problems.length > 0) throw new CliError(`${file} cannot be imported (nothing was changed):\n  ${problems.join('\n  ')}\n(see "folio courses roster import --help")`, 2);
    await withDatabase(command, async (db) => {
      const course = await requireCourse(db, id);
      const config = configOf(command);
      let result;
      try {
        result = await importRoster(db, course.id, entries, config.passwordLinkDays);
      } catch (err) {
        if (err instanceof UsernameTakenError) throw new CliError(err.message, 1);
        throw err;
      }
      const origin = publicOriginOf(config);
      for (const made of result.created) console.log(`${made.username}\t${passwordLinkUrl(origin, made.token)}`);
      logSecurityEvent(config, { event: 'roster_imported', by: whoRuns(), course: course.id, created: result.created.length, enrolled: result.enrolled }, 'course roster imported');
      console.error(`${course.id}: created ${result.created.length} account(s), enrolled ${result.enrolled}, already enrolled ${result.alreadyEnrolled}`);
    });
  });

courses
  .command('sync-roster')
  .description("enrol the students of a course's LMS context now (LTI Names and Role Provisioning Services), as an instructor's launch does")
  .argument('<id>', 'course id (of a course made by a launch from the LMS)', courseId)
  .addHelpText(
    'after',
    `
Reads the memberships of the course's LMS context(s) (their URL came with an instructor's launch that offered Names
and Role Provisioning Services) and enrols every active learner (via lti), making an account for one who never
launched Folio (named as the LMS lists them). Members the LMS lists as Inactive or Deleted lose an enrolment an LMS
made; enrolments made with the join code, by staff or from a roster file stay. Instructors and TAs are not added:
they become staff when they open Folio from the LMS. An instructor's launch runs the same sync in the background (at
most every 10 minutes per course). The summary goes to stdout, progress of a roster of several pages to stderr (at
most ${maxRosterPages} pages a context). Exit 1 when the course has no LMS context with the service, its platform is
not registered, or the LMS does not give the roster (nothing was changed in that context).`,
  )
  .action(async (id: string, _opts, command: Command) => {
    await withDatabase(command, async (db) => {
      const course = await requireCourse(db, id);
      const config = configOf(command);
      let summary;
      try {
        summary = await syncRoster(db, resolveSecret(config), course.id, {
          onPage: (p) => {
            if (p.pages > 1 || p.more) console.error(`${course.id}: read page ${p.pages} of context ${p.context} (${p.members} members so far)`);
          },
        });
      } catch (err) {
        if (err instanceof RosterSyncError || err instanceof LtiKeyError) throw new CliError(err.message, 1);
        throw err;
      }
      logSecurityEvent(config, { event: 'lti_roster_synced', by: whoRuns(), course: course.id, ...summary }, 'LTI roster synced');
      console.log(describeRosterSync(course.id, summary));
      if (!summary.complete) console.error(`${course.id}: the LMS listed more than ${maxRosterPages} pages (or its pages loop): the members read were synced, the rest were not`);
    });
  });

courses
  .command('code')
  .description("print a course's join code; --rotate replaces it (the old one stops working)")
  .argument('<id>', 'course id', courseId)
  .option('--rotate', 'replace the code with a new one (e.g. after it was shared beyond the class)')
  .action(async (id: string, opts: { rotate?: boolean }, command: Command) => {
    await withDatabase(command, async (db) => {
      const course = await requireCourse(db, id);
      const code = opts.rotate ? await rotateJoinCode(db, course.id) : course.joinCode;
      if (code === undefined) throw unknownCourseError(id);
      console.log(code);
      if (!course.open) console.error(`${course.id} is closed: the code enrols nobody until "folio courses open ${course.id}"`);
    });
  });

courses
  .command('open')
  .description('let students join a course with its code')
  .argument('<id>', 'course id', courseId)
  .action(async (id: string, _opts, command: Command) => {
    await withDatabase(command, async (db) => {
      if (!(await setCourseOpen(db, id, true))) throw unknownCourseError(id);
      console.log(`${id} is open: students may join with its code`);
    });
  });

courses
  .command('close')
  .description('stop students joining a course with its code (enrolled students stay; staff may still add students)')
  .argument('<id>', 'course id', courseId)
  .action(async (id: string, _opts, command: Command) => {
    await withDatabase(command, async (db) => {
      if (!(await setCourseOpen(db, id, false))) throw unknownCourseError(id);
      console.log(`${id} is closed: its code enrols nobody`);
    });
  });

const lti = program.command('lti').description('LTI 1.3: the LMS platforms allowed to launch Folio, and Folio\'s keys as their tool');
const platforms = lti.command('platforms').description('the LMS platforms (issuer and client id) registered with Folio');

function repeatable(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

platforms
  .command('add')
  .description('register an LMS platform: the values its administrator gets when adding Folio as an LTI 1.3 tool')
  .requiredOption('--issuer <url>', "the platform's issuer (iss), e.g. https://canvas.instructure.com")
  .requiredOption('--client-id <id>', 'the client id the platform gave Folio')
  .requiredOption('--auth-url <url>', "the platform's OIDC authorization endpoint (authentication request URL)")
  .requiredOption('--token-url <url>', "the platform's OAuth 2 access token URL")
  .requiredOption('--jwks-url <url>', "the platform's public keyset URL")
  .requiredOption('--deployment <id>', 'a deployment id accepted from the platform (repeatable)', repeatable, [])
  .addHelpText(
    'after',
    '\nURLs must be https (plain http only on 127.0.0.1, ::1 or localhost, for development). Exit 2 for a bad value,\n' +
      '1 if the issuer and client id are already registered (remove it first to change it). "folio lti tool-info" prints\n' +
      'what to paste into the LMS.',
  )
  .action(async (opts: { issuer: string; clientId: string; authUrl: string; tokenUrl: string; jwksUrl: string; deployment: string[] }, command: Command) => {
    await withDatabase(command, async (db) => {
      try {
        const added = await addPlatform(db, { issuer: opts.issuer, clientId: opts.clientId, authUrl: opts.authUrl, tokenUrl: opts.tokenUrl, jwksUrl: opts.jwksUrl, deployments: opts.deployment });
        logSecurityEvent(configOf(command), { event: 'lti_platform_added', by: whoRuns(), issuer: added.issuer, clientId: added.clientId, deployments: added.deployments }, 'LTI platform added');
        console.log(`added LTI platform ${added.issuer} (client id ${added.clientId}) with deployment(s) ${added.deployments.join(', ')}`);
      } catch (err) {
        if (err instanceof LtiPlatformError) throw new CliError(err.message, 2);
        if (err instanceof LtiPlatformExistsError) throw new CliError(`${err.message} (see "folio lti platforms list")`, 1);
        throw err;
      }
    });
  });

platforms
  .command('list')
  .description('list the registered platforms: issuer, client id, deployments and endpoints')
  .option('--json', 'print a JSON array instead of a table')
  .action(async (opts: { json?: boolean }, command: Command) => {
    await withDatabase(command, async (db) => {
      const listed = (await listPlatforms(db)).map(listedPlatform);
      if (opts.json) return console.log(JSON.stringify(listed, null, 2));
      if (listed.length === 0) return console.log('no LTI platforms yet: register one with "folio lti platforms add" (see its --help)');
      console.log(platformTable(listed));
    });
  });

platforms
  .command('remove')
  .description("remove a platform's registration: it can no longer launch Folio")
  .argument('<issuer>', "the platform's issuer, as listed")
  .requiredOption('--client-id <id>', 'its client id, as listed')
  .action(async (issuer: string, opts: { clientId: string }, command: Command) => {
    await withDatabase(command, async (db) => {
      if (!(await removePlatform(db, issuer, opts.clientId))) throw new CliError(`no LTI platform has issuer ${issuer} and client id ${opts.clientId} (see "folio lti platforms list")`, 1);
      logSecurityEvent(configOf(command), { event: 'lti_platform_removed', by: whoRuns(), issuer, clientId: opts.clientId }, 'LTI platform removed');
      console.log(`removed LTI platform ${issuer} (client id ${opts.clientId})`);
    });
  });

const ltiKeysCommand = lti.command('keys').description("Folio's RSA keys that sign what it sends platforms (published at /lti/jwks)");

ltiKeysCommand
  .command('rotate')
  .description('make a new signing key; the previous one stays in /lti/jwks for 65 minutes, then is dropped')
  .addHelpText(
    'after',
    '\nPlatforms read the new key from /lti/jwks by themselves: nothing changes in the LMS. The retired key stays\n' +
      'published for 65 minutes (1 hour, the longest life of what Folio signs, and 5 minutes of clock skew) and is\n' +
      'deleted by the next rotation after that. The private keys are stored encrypted with a key derived from\n' +
      'FOLIO_SECRET (or folio.secret next to a SQLite database).',
  )
  .action(async (_opts, command: Command) => {
    await withDatabase(command, async (db) => {
      const config = configOf(command);
      const rotation = await rotateKeys(db, resolveSecret(config));
      logSecurityEvent(config, { event: 'lti_key_rotated', by: whoRuns(), kid: rotation.kid, retired: rotation.retired }, 'LTI signing key rotated');
      console.log(describeRotation(rotation));
    });
  });

lti
  .command('tool-info')
  .description('print what an LMS administrator pastes in to add Folio as an LTI 1.3 tool: URLs, scopes, public key')
  .option('--json', 'print a JSON object instead of text')
  .option('--public-origin <url>', 'the origin the LMS and browsers reach Folio at (FOLIO_PUBLIC_ORIGIN; default: the listen address)')
  .addHelpText('after', '\nThe URLs start with FOLIO_PUBLIC_ORIGIN: set it to the https origin people reach Folio at. Makes the first key if there is none.')
  .action(async (opts: { json?: boolean }, command: Command) => {
    await withDatabase(command, async (db) => {
      const config = configOf(command);
      let key;
      try {
        key = await signingKey(db, resolveSecret(config));
      } catch (err) {
        if (err instanceof LtiKeyError) throw new CliError(err.message, 1);
        throw err;
      }
      const info = toolInfo(publicOriginOf(config), key.publicJwk);
      console.log(opts.json ? JSON.stringify(info, null, 2) : describeToolInfo(info));
    });
  });

const auth = program.command('auth').description('how people sign in: the identity providers (OpenID Connect) besides passwords');
const providers = auth.command('providers').description('identity providers (OpenID Connect: a university, Google, Microsoft Entra ID, Keycloak…) people sign in with');

async function secretFromStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('client secret (then Enter, Ctrl-D): ');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const secret = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (secret.length === 0 || secret.length > 4096) throw new CliError('the client secret on stdin must be 1-4096 characters', 2);
  return secret;
}

function providerId(value: string): string {
  if (!isProviderId(value)) throw new InvalidArgumentError('a provider id is 1-64 characters: lower-case letters, digits, "-" and "_", starting with a letter or digit');
  return value;
}

function allowedDomain(value: string, previous: string[] = []): string[] {
  const domain = emailDomain(value);
  if (!domain) throw new InvalidArgumentError(`"${value}" is not an email domain (e.g. university.edu)`);
  return [...new Set([...previous, domain])];
}

providers
  .command('add')
  .description("register an identity provider: reads its OpenID configuration from the issuer, the client secret from stdin")
  .argument('<id>', 'Folio\'s name for it (in the redirect URI and on the button): lower-case letters, digits, "-" and "_"', providerId)
  .requiredOption('--issuer <url>', "the provider's issuer, e.g. https://accounts.google.com, https://login.microsoftonline.com/TENANT/v2.0 or https://keycloak.example.edu/realms/REALM")
  .requiredOption('--client-id <id>', 'the client id the provider gave Folio')
  .requiredOption('--client-secret-stdin', 'read the client secret from standard input (required: secrets never go on the command line)')
  .option('--title <text>', 'what the sign-in button says (default: the id)')
  .option('--allowed-domain <domain>', 'only people whose verified email is in this domain may sign in, e.g. university.edu (repeatable; default: anyone)', allowedDomain, [])
  .option('--link-only', 'a sign-in never creates an account: only people who linked this provider to their account may sign in with it')
  .option('--public-origin <url>', 'the origin browsers reach Folio at, for the redirect URI printed (FOLIO_PUBLIC_ORIGIN)')
  .addHelpText(
    'after',
    '\nFolio reads ISSUER/.well-known/openid-configuration now (https; plain http only on 127.0.0.1, ::1 or localhost, for\n' +
      'development) and fails if it cannot. Register Folio at the provider first with the redirect URI\n' +
      'FOLIO_PUBLIC_ORIGIN/api/auth/oidc/ID/callback and the scopes openid profile email; this command prints it.\n' +
      'The secret is stored encrypted with a key derived from FOLIO_SECRET and never printed. Exit 2 for a bad value,\n' +
      '1 if the id is taken or the issuer cannot be read.\n\n' +
      'Example: printf %s "$SECRET" | folio auth providers add uni --issuer https://login.uni.edu --client-id folio \\\n' +
      '           --client-secret-stdin --title "University login" --allowed-domain uni.edu',
  )
  .action(async (id: string, opts: { issuer: string; clientId: string; title?: string; allowedDomain: string[]; linkOnly?: boolean }, command: Command) => {
    const clientSecret = await secretFromStdin();
    await withDatabase(command, async (db) => {
      const config = configOf(command);
      const title = opts.title?.trim() || id;
      if (title.length > 100) throw new CliError('--title must be at most 100 characters', 2);
      if (opts.clientId.length === 0 || opts.clientId.length > 255) throw new CliError('--client-id must be 1-255 characters', 2);
      if (await findProvider(db, id)) throw new CliError(`an identity provider "${id}" is already registered (see "folio auth providers list"; remove it first to change it)`, 1);
      process.stderr.write(`reading ${opts.issuer}'s OpenID configuration…\n`);
      let metadata;
      try {
        metadata = await discoverProvider(opts.issuer, opts.clientId);
      } catch (err) {
        if (err instanceof OidcError) throw new CliError(err.message, err.reason === 'issuer' ? 2 : 1);
        throw err;
      }
      try {
        await addProvider(db, { id, issuer: metadata.issuer, clientId: opts.clientId, clientSecret: sealClientSecret(resolveSecret(config), id, clientSecret), title, metadata, allowedDomains: opts.allowedDomain, createAccounts: !opts.linkOnly });
      } catch (err) {
        if (err instanceof OidcProviderExistsError) throw new CliError(`${err.message} (see "folio auth providers list")`, 1);
        throw err;
      }
      logSecurityEvent(config, { event: 'oidc_provider_added', by: whoRuns(), provider: id, issuer: metadata.issuer, clientId: opts.clientId, allowedDomains: opts.allowedDomain, createAccounts: !opts.linkOnly }, 'identity provider added');
      console.log(`added identity provider ${id} (${metadata.issuer}, client id ${opts.clientId})`);
      console.log(`its redirect URI, to register at the provider: ${callbackUrlOf(publicOriginOf(config), id)}`);
    });
  });

providers
  .command('list')
  .description('list the identity providers: id, title, issuer, client id, allowed domains (never the secret)')
  .option('--json', 'print a JSON array instead of a table')
  .action(async (opts: { json?: boolean }, command: Command) => {
    await withDatabase(command, async (db) => {
      const listed = (await listProviders(db)).map((p) => ({ id: p.id, title: p.title, issuer: p.issuer, clientId: p.clientId, allowedDomains: p.allowedDomains, createAccounts: p.createAccounts, createdAt: new Date(p.createdAt).toISOString() }));
      if (opts.json) return console.log(JSON.stringify(listed, null, 2));
      if (listed.length === 0) return console.log('no identity providers yet: register one with "folio auth providers add" (see its --help)');
      console.log(
        table([
          ['ID', 'TITLE', 'ISSUER', 'CLIENT ID', 'ALLOWED DOMAINS', 'NEW ACCOUNTS'],
          ...listed.map((p) => [p.id, p.title, p.issuer, p.clientId, p.allowedDomains.join(',') || '(any)', p.createAccounts ? 'yes' : 'link only']),
        ]),
      );
    });
  });

providers
  .command('remove')
  .description('remove an identity provider: nobody signs in with it any more (accounts linked to it keep their other ways to log in)')
  .argument('<id>', "the provider's id, as listed")
  .action(async (id: string, _opts, command: Command) => {
    await withDatabase(command, async (db) => {
      if (!(await removeProvider(db, id))) throw new CliError(`there is no identity provider "${id}" (see "folio auth providers list")`, 1);
      logSecurityEvent(configOf(command), { event: 'oidc_provider_removed', by: whoRuns(), provider: id }, 'identity provider removed');
      console.log(`removed identity provider ${id}`);
    });
  });

// Research experiments: `folio experiments add|list|stop|report` (the same as /api/books/:book/experiments).
const experimentsCommand = program.command('experiments').description("research experiments: A/B variants of a book's pages, assigned once per student, recorded with every export row");

function experimentId(value: string): string {
  if (!experimentIdPattern.test(value)) throw new InvalidArgumentError('an experiment id is 1-64 characters: lower-case letters, digits, "-" and "_", starting with a letter or digit');
  return value;
}

function variantList(value: string): Variant[] {
  try {
    return parseVariants(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function repeated<T>(parse: (value: string) => T): (value: string, previous?: T[]) => T[] {
  return (value, previous = []) => [...previous, parse(value)];
}

async function summaryOf(db: Database, id: string) {
  const found = (await listExperiments(db)).find((e) => e.id === id);
  if (!found) throw new CliError(`there is no experiment "${id}" (see "folio experiments list")`, 1);
  return found;
}

experimentsCommand
  .command('add')
  .description('define an experiment of a book: its variants (the first is what students outside it see), who takes part and when')
  .argument('<id>', 'experiment id, unique on the server: lower-case letters, digits, "-", "_" (e.g. hint-policy)', experimentId)
  .requiredOption('--book <book>', 'the book whose pages run it (see "folio books list")', bookId)
  .requiredOption('--variants <list>', 'variants as name[:weight],… e.g. control,hint:2 (weights 1-1000, default 1)', variantList)
  .option('--course <course>', "only this course's enrolled students take part (again for several courses)", repeated(courseId))
  .option('--start <time>', 'assign nobody before this time: 2026-09-01 or 2026-09-01T08:00:00Z', instant)
  .option('--end <time>', 'assign nobody new from this time on (the assigned keep their variant)', instant)
  .option('--consent-only', 'only students who gave research consent take part; the others get the first variant, never recorded')
  .addHelpText(
    'after',
    '\nA student gets a variant at their first exposure (the book page calling variant(ID)): HMAC-SHA256 of the student with the\n' +
      "experiment's own random salt, split by the weights. It is stored then, with the time and the page, and is the same on\n" +
      'every device and after an anonymous student logs in. Students outside the experiment (another course, no consent for a\n' +
      'consent-only one, before --start or after --end) get the first variant and are not recorded. Exit 1 for a taken id, an\n' +
      "unknown book or a course of another book; 2 for bad variants or times.",
  )
  .action(async (id: string, opts: { book: string; variants: Variant[]; course?: string[]; start?: number; end?: number; consentOnly?: boolean }, command: Command) => {
    if (opts.start !== undefined && opts.end !== undefined && opts.end <= opts.start) throw new CliError('--end must be after --start', 2);
    await withDatabase(command, async (db) => {
      if (!(await findBook(db, opts.book))) throw unknownBook(opts.book);
      try {
        await createExperiment(db, { id, bookId: opts.book, variants: opts.variants, courses: opts.course, startsAt: opts.start, endsAt: opts.end, consentOnly: opts.consentOnly });
      } catch (err) {
        if (err instanceof ExperimentExistsError || err instanceof ExperimentCourseError) throw new CliError(err.message, 1);
        throw err;
      }
      console.log(describeExperiment(await summaryOf(db, id)));
    });
  });

experimentsCommand
  .command('list')
  .description('list experiments: book, status, variants and weights, who takes part, students exposed per variant')
  .option('--book <book>', "only this book's experiments", bookId)
  .option('--json', 'print a JSON array instead of a table (exposed and consenting students per variant)')
  .action(async (opts: { book?: string; json?: boolean }, command: Command) => {
    await withDatabase(command, async (db) => {
      const found = await listExperiments(db, opts.book);
      if (opts.json) return console.log(JSON.stringify(found.map(listedExperiment), null, 2));
      if (found.length === 0) return console.log(`no experiments${opts.book ? ` of book ${opts.book}` : ''} yet: add one with "folio experiments add ID --book B --variants control,treatment"`);
      console.log(experimentTable(found));
    });
  });

experimentsCommand
  .command('stop')
  .description('stop an experiment: nobody new is assigned; the assigned keep their variant, and their rows in exports')
  .argument('<id>', 'experiment id', experimentId)
  .action(async (id: string, _opts, command: Command) => {
    await withDatabase(command, async (db) => {
      if (!(await stopExperiment(db, id))) throw new CliError(`there is no experiment "${id}" (see "folio experiments list")`, 1);
      console.log(describeExperiment(await summaryOf(db, id)));
    });
  });

experimentsCommand
  .command('report')
  .description("per variant: consenting students exposed, their mean score and completion on the experiment's pages, and two-sided tests")
  .argument('<id>', 'experiment id', experimentId)
  .option('--page <page>', 'a page of the experiment (again for several; default: every page an exposure was recorded on)', repeated((v: string) => v))
  .option('--json', 'print the report as JSON (as GET /api/books/:book/experiments/:experiment/report)')
  .addHelpText(
    'after',
    "\nScore: each student's mean over the pages' questions of their latest attempt (its score, else 1 if marked correct, 0 if\n" +
      "not). Completion: the student marked every one of the pages complete. Each variant is compared with the first: Welch's\n" +
      "t-test for the mean score, the two-proportion z-test for completion, both two-sided; the output names their assumptions.",
  )
  .action(async (id: string, opts: { page?: string[]; json?: boolean }, command: Command) => {
    await withDatabase(command, async (db) => {
      const experiment = await findExperiment(db, id);
      if (!experiment) throw new CliError(`there is no experiment "${id}" (see "folio experiments list")`, 1);
      const report = await experimentReport(db, experiment, opts.page);
      console.log(opts.json ? JSON.stringify(report, null, 2) : reportText(report));
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
    // Loaded here: it brings drizzle's PostgreSQL half, which no other command needs before it opens PostgreSQL.
    const { MigrateDataError, runMigrateData } = await import('./migrate-data.js');
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
