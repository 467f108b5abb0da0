import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { createInterface } from 'node:readline/promises';
import { pipeline } from 'node:stream/promises';
import { count, eq } from 'drizzle-orm';
import type { Database } from '../db/index.js';
import { first, select } from '../db/query.js';
import { answers, events, pageCompletions, programs } from '../db/schema.js';
import { openPersonalExport } from '../db/users.js';

/** `folio users export`: everything about a user as JSON, to stdout or a file (written through FILE.partial, renamed when complete). */
export async function writePersonalExport(db: Database, userId: string, out: string | undefined, stdout: NodeJS.WritableStream): Promise<void> {
  const exported = await openPersonalExport(db, userId);
  if (!exported) throw new Error(`user ${userId} vanished`);
  if (out === undefined) {
    await pipeline(exported.stream, stdout, { end: false });
    return;
  }
  const partial = `${out}.partial`;
  try {
    await pipeline(exported.stream, createWriteStream(partial, { mode: 0o600 }));
    await rename(partial, out);
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
}

/** How many rows of each kind of work a user has, for the question before deleting them. */
export async function workCounts(db: Database, userId: string): Promise<string> {
  const tables = [
    [programs, 'program version(s)'],
    [answers, 'answer(s)'],
    [events, 'event(s)'],
    [pageCompletions, 'completed page(s)'],
  ] as const;
  const parts: string[] = [];
  for (const [table, what] of tables) {
    const row = await first(db, select({ n: count() }).from(table).where(eq(table.userId, userId)));
    parts.push(`${row!.n} ${what}`);
  }
  return parts.join(', ');
}

/** Asks on the terminal for the username to be typed again; true when it was. */
export async function confirmByTyping(username: string, question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question(question)).trim() === username;
  } finally {
    rl.close();
  }
}
