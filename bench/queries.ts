/**
 * What it costs to make a query ready to run (its SQL text and values for one database, db/render.ts), in µs of CPU
 * time, without running it: the look-up of an account by username (all eleven columns of users) and of a book by id
 * (two), written three ways: a `sql` template built per call, a query of drizzle's query builder built per call
 * (db/query.ts), and the same builder query built once with a placeholder (what db/ does for the queries run often),
 * of which each call only fills the value. Each way in turn, `--rounds` times; the median round is printed.
 *   npx tsx bench/queries.ts [--calls 20000] [--rounds 7]
 */
import { eq, sql, type SQLWrapper } from 'drizzle-orm';
import { parseArgs } from 'node:util';
import { select, storedColumns } from '../db/query.js';
import { PgDialect } from 'drizzle-orm/pg-core';
import { SQLiteSyncDialect } from 'drizzle-orm/sqlite-core';
import { renderer } from '../db/render.js';
import { books, users } from '../db/schema.js';

const { values: args } = parseArgs({ options: { calls: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '7' }, help: { type: 'boolean', short: 'h' } } });
if (args.help) {
  console.log('npx tsx bench/queries.ts [--calls N] [--rounds N]: µs of CPU to build and render a query per call, `sql` template against query builder, and to fill a builder query built once');
  process.exit(0);
}
const calls = Number(args.calls);
const rounds = Number(args.rounds);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const userColumns = sql.raw('id, username, username_key, name, email, role, password_hash, research_consent, anonymous, created_at, updated_at');
const storedUser = storedColumns(users);
const userOnce = select(storedUser).from(users).where(eq(users.usernameKey, sql.placeholder('key')));
const bookOnce = select({ id: books.id, title: books.title }).from(books).where(eq(books.id, sql.placeholder('id')));

/** Each way: the query and its values for call i. */
const ways: Record<string, (i: number) => [SQLWrapper, Record<string, unknown>?]> = {
  'account: sql template per call': (i) => [sql`SELECT ${userColumns} FROM users WHERE username_key = ${`u${i}`}`],
  'account: builder per call': (i) => [select(storedUser).from(users).where(eq(users.usernameKey, `u${i}`))],
  'account: builder once, filled': (i) => [userOnce, { key: `u${i}` }],
  'book: sql template per call': (i) => [sql`SELECT id, title FROM books WHERE id = ${`b${i}`}`],
  'book: builder per call': (i) => [select({ id: books.id, title: books.title }).from(books).where(eq(books.id, `b${i}`))],
  'book: builder once, filled': (i) => [bookOnce, { id: `b${i}` }],
};

/** One renderer per dialect, as db/sqlite.ts and db/postgres.ts make them. */
const statement = { sqlite: renderer(new SQLiteSyncDialect()), postgres: renderer(new PgDialect()) };
const results: Record<string, number[]> = {};
for (let round = 0; round < rounds; round++) {
  for (const [name, make] of Object.entries(ways)) {
    for (const dialect of ['sqlite', 'postgres'] as const) {
      const before = process.cpuUsage();
      for (let i = 0; i < calls; i++) {
        const [query, values] = make(i);
        statement[dialect](query, values);
      }
      const used = process.cpuUsage(before);
      (results[`${name} (${dialect})`] ??= []).push((used.user + used.system) / calls);
    }
  }
}
console.log(`µs of CPU per query made ready to run (median of ${rounds} rounds of ${calls} calls; node ${process.version})`);
for (const [name, us] of Object.entries(results)) console.log(`${name.padEnd(48)} ${median(us).toFixed(2).padStart(7)}`);
