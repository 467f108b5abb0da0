import { and, asc, count, eq, gt, inArray } from 'drizzle-orm';
import { randomUUID } from 'node:crypto';
import { cursorOf } from '../lib/cursor.js';
import { CsvSyntaxError, parseCsv } from '../lib/csv.js';
import type { Database, Queries } from './index.js';
import { createPasswordLink } from './password-links.js';
import { isUniqueViolation, UsernameTakenError } from './users.js';
import { conflictOn, qb, rows, select } from './query.js';
import { courseStaff, enrolments, users, type EnrolmentSource } from './schema.js';

/**
 * A course's roster: the students enrolled in it, added by staff by username or from a CSV file (`username,name,email`)
 * that also makes the accounts it names which do not exist yet, without a password: each gets a set-password link.
 */

/** A username as registering takes it (schemas/auth.ts Username). */
export const usernamePattern = /^[A-Za-z0-9._@+-]{3,64}$/;
/** An email address as registering takes it (ajv-formats' `email`, at most 254 characters). */
const emailPattern = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/i;

export const rosterColumns = ['username', 'name', 'email'] as const;

/** One student of a roster file. */
export interface RosterEntry {
  line: number;
  username: string;
  name: string | null;
  email: string | null;
}

/**
 * Reads a roster file: a header naming `username` and optionally `name` and `email` (in any order, case and spaces
 * ignored), then one student a line. Every problem is listed with its line (a bad username, email or name, a username
 * twice, a wrong number of fields); `problems` is empty when the file can be imported as it is.
 */
export function parseRoster(text: string): { entries: RosterEntry[]; problems: string[] } {
  let records;
  try {
    records = parseCsv(text);
  } catch (err) {
    if (err instanceof CsvSyntaxError) return { entries: [], problems: [err.message] };
    throw err;
  }
  const [header, ...body] = records;
  if (!header) return { entries: [], problems: ['the file is empty: its first line is the header username,name,email'] };
  const names = header.fields.map((f) => f.trim().toLowerCase());
  const problems: string[] = [];
  for (const [i, name] of names.entries()) {
    if (!(rosterColumns as readonly string[]).includes(name)) problems.push(`line ${header.line}: column ${i + 1} "${header.fields[i]}" is not one of ${rosterColumns.join(', ')}`);
    else if (names.indexOf(name) !== i) problems.push(`line ${header.line}: the column ${name} appears twice`);
  }
  const at = (column: (typeof rosterColumns)[number]) => names.indexOf(column);
  if (at('username') < 0) problems.push(`line ${header.line}: the header has no username column (it is username,name,email; name and email may be left out)`);
  if (problems.length > 0) return { entries: [], problems };

  const entries: RosterEntry[] = [];
  const seen = new Map<string, number>();
  for (const { line, fields } of body) {
    if (fields.length > names.length) {
      problems.push(`line ${line}: ${fields.length} fields where the header has ${names.length} (a comma inside a field needs the field in double quotes)`);
      continue;
    }
    // Fields left out at the end of a line are empty.
    const value = (column: (typeof rosterColumns)[number]) => (fields[at(column)] ?? '').trim();
    const username = value('username');
    const name = value('name');
    const email = value('email');
    const before = problems.length;
    if (!usernamePattern.test(username)) {
      problems.push(`line ${line}: username ${JSON.stringify(username)} is not a username (3-64 characters: letters, digits and . _ @ + -)`);
    } else {
      const first = seen.get(username.toLowerCase());
      if (first !== undefined) problems.push(`line ${line}: username ${username} is on line ${first} already (usernames are the same regardless of case)`);
      else seen.set(username.toLowerCase(), line);
    }
    if (email !== '' && (email.length > 254 || !emailPattern.test(email))) problems.push(`line ${line}: email ${JSON.stringify(email)} is not an email address`);
    if (name.length > 200) problems.push(`line ${line}: the name is longer than 200 characters`);
    if (problems.length === before) entries.push({ line, username, name: name || null, email: email || null });
  }
  if (problems.length === 0 && entries.length === 0) problems.push('the file has a header and no student: one student a line after it');
  return { entries, problems };
}

/** What enrolling a roster did: accounts made (each with its set-password link's token), students enrolled now and before. */
export interface RosterResult {
  created: { username: string; userId: string; token: string }[];
  enrolled: number;
  alreadyEnrolled: number;
}

/**
 * Enrols a roster's students in a course, in one transaction: existing accounts as they are (never changed), and the
 * usernames no account has as new accounts without a password (role student), each with a set-password link that
 * works for `linkDays` days. A username of an anonymous user cannot exist (they have none).
 */
export async function importRoster(db: Database, courseId: string, entries: readonly RosterEntry[], linkDays: number): Promise<RosterResult> {
  try {
    return await writeRoster(db, courseId, entries, linkDays);
  } catch (err) {
    // Someone registered one of the new usernames while the import ran: nothing was stored.
    if (isUniqueViolation(err)) throw new UsernameTakenError('a username of the roster was taken while it was imported (nothing was changed): import it again');
    throw err;
  }
}

async function writeRoster(db: Database, courseId: string, entries: readonly RosterEntry[], linkDays: number): Promise<RosterResult> {
  return db.write(async (tx) => {
    const existing = await accountsByUsername(tx, entries.map((e) => e.username));
    const now = Date.now();
    const created: RosterResult['created'] = [];
    const ids: string[] = [];
    for (const entry of entries) {
      const found = existing.get(entry.username.toLowerCase());
      if (found) {
        ids.push(found);
        continue;
      }
      const id = randomUUID();
      await tx.run(
        qb.insert(users).values({
          id,
          username: entry.username,
          usernameKey: entry.username.toLowerCase(),
          name: entry.name,
          email: entry.email,
          role: 'student',
          passwordHash: null,
          researchConsent: 0,
          anonymous: 0,
          createdAt: now,
          updatedAt: now,
        }),
      );
      created.push({ username: entry.username, userId: id, token: await createPasswordLink(tx, id, linkDays, now) });
      ids.push(id);
    }
    const enrolled = await enrolIn(tx, courseId, ids, 'roster');
    return { created, enrolled, alreadyEnrolled: ids.length - enrolled };
  });
}

/** The ids of the accounts with these usernames (any case), by lower-cased username. */
async function accountsByUsername(db: Queries, usernames: readonly string[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const keys = [...new Set(usernames.map((u) => u.toLowerCase()))];
  // In slices: SQLite takes at most 32766 values a statement.
  for (let i = 0; i < keys.length; i += 500) {
    const slice = keys.slice(i, i + 500);
    const matched = await rows(db, select({ id: users.id, key: users.usernameKey }).from(users).where(and(inArray(users.usernameKey, slice), eq(users.anonymous, 0))));
    for (const row of matched) found.set(row.key!, row.id);
  }
  return found;
}

/** Enrols users (ids) in a course through `db` (a transaction's or the database); how many were enrolled now. */
async function enrolIn(db: Queries, courseId: string, userIds: readonly string[], via: EnrolmentSource): Promise<number> {
  const unique = [...new Set(userIds)];
  let added = 0;
  for (let i = 0; i < unique.length; i += 500) {
    const now = Date.now();
    added += await db.run(
      qb
        .insert(enrolments)
        .values(unique.slice(i, i + 500).map((userId) => ({ courseId, userId, via, enrolledAt: now })))
        .onConflictDoNothing({ target: [conflictOn(enrolments.courseId), conflictOn(enrolments.userId)] }),
    );
  }
  return added;
}

/**
 * Enrols existing accounts by username, all or none: `{unknown}` lists every username no account has (then nothing is
 * enrolled), else how many were enrolled now and how many were already.
 */
export async function enrolUsernames(
  db: Database,
  courseId: string,
  usernames: readonly string[],
  via: EnrolmentSource,
): Promise<{ unknown: string[] } | { enrolled: number; alreadyEnrolled: number }> {
  return db.write(async (tx) => {
    const found = await accountsByUsername(tx, usernames);
    const unknown = [...new Set(usernames)].filter((u) => !found.has(u.toLowerCase()));
    if (unknown.length > 0) return { unknown };
    const ids = [...new Set(found.values())];
    const enrolled = await enrolIn(tx, courseId, ids, via);
    return { enrolled, alreadyEnrolled: ids.length - enrolled };
  });
}

/** An enrolled student as the roster lists them. */
export interface RosterStudent {
  id: string;
  username: string | null;
  name: string | null;
  email: string | null;
  via: EnrolmentSource;
  enrolledAt: number;
}

/** A page of a course's enrolled students, by user id after `after` (exclusive), and the cursor of the next page or null. */
export async function rosterPage(db: Queries, courseId: string, limit: number, after?: string): Promise<{ students: RosterStudent[]; next: string | null }> {
  const found = await rows(
    db,
    select({ id: users.id, username: users.username, name: users.name, email: users.email, via: enrolments.via, enrolledAt: enrolments.enrolledAt })
      .from(enrolments)
      .innerJoin(users, eq(users.id, enrolments.userId))
      .where(and(eq(enrolments.courseId, courseId), after === undefined ? undefined : gt(enrolments.userId, after)))
      .orderBy(asc(enrolments.userId))
      .limit(limit + 1),
  );
  const students = found.slice(0, limit);
  return { students, next: found.length > limit ? cursorOf(students.at(-1)!.id) : null };
}

/** How many staff and students each course has, by course id (courses without either are left out). */
export async function countsByCourse(db: Queries): Promise<Map<string, { staff: number; students: number }>> {
  const [staff, students] = await Promise.all([
    rows(db, select({ courseId: courseStaff.courseId, n: count() }).from(courseStaff).groupBy(courseStaff.courseId)),
    rows(db, select({ courseId: enrolments.courseId, n: count() }).from(enrolments).groupBy(enrolments.courseId)),
  ]);
  const counts = new Map<string, { staff: number; students: number }>();
  const of = (id: string) => counts.get(id) ?? counts.set(id, { staff: 0, students: 0 }).get(id)!;
  for (const row of staff) of(row.courseId).staff = Number(row.n);
  for (const row of students) of(row.courseId).students = Number(row.n);
  return counts;
}
