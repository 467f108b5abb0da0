/**
 * A class of students with work of the past weeks, for the demo (`npm run demo` seeds `demo-101` on the demo book), the
 * dashboard's bench (bench/dashboard.ts: 1,000 students on 300 pages) and the tests. Everything is written through
 * Folio's own functions (db/users.ts, db/courses.ts, db/work.ts), with the work's times in the past, and drawn from a
 * seeded random sequence: the same class every time, so screenshots stay the same.
 *
 * The students are of a few kinds, like a real class: some finished the book, most are somewhere in it, some started
 * and stopped days ago (far behind), a few never opened it. Each page a student reached has a page view, attempts at its
 * questions (wrong first now and then, right in the end mostly), versions of its programs, a completion when finished,
 * and the student's position is their last page.
 */
import { addStaff, createCourse, enrol, findCourse } from '../db/courses.js';
import type { Database } from '../db/index.js';
import type { StaffRole } from '../db/schema.js';
import { createAccount, findUserByUsername } from '../db/users.js';
import { saveAnswer, saveEvents, saveProgram, setPageComplete, setPosition, type NewAnswer, type NewEvent, type Owner } from '../db/work.js';
import { hashPassword } from '../lib/passwords.js';
import type { StoredToc } from '../lib/toc.js';

/** A staff account of the class, with the password it logs in with. */
export interface StaffAccount {
  username: string;
  password: string;
  name: string;
  role: StaffRole;
}

export interface ClassOptions {
  course: { id: string; title: string; term?: string };
  bookId: string;
  /** The book's table of contents: the pages, questions and activities the students work on. */
  toc: StoredToc;
  students: number;
  staff: readonly StaffAccount[];
  /** scrypt cost of the staff's password hashes (the configuration's passwordCost). Students get no password. */
  passwordCost: number;
  /** The work ends before this time (now by default) and starts `days` before it. */
  now?: number;
  days?: number;
  /** The random sequence's seed: another seed, another class. */
  seed?: number;
  /** Students seeded at once (each one's work is written in order). */
  parallel?: number;
  /** Called after every 100 students, for progress on a long seeding. */
  progress?: (done: number, total: number) => void;
}

export interface SeededClass {
  /** false: the course existed already, and nothing was written. */
  created: boolean;
  students: number;
  answers: number;
  programs: number;
  completions: number;
  events: number;
}

/** A fixed sequence of random numbers in [0, 1) (mulberry32). */
export function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const firstNames = [
  'Amara', 'Ben', 'Chloé', 'Dmitri', 'Elif', 'Farah', 'Gabriel', 'Hana', 'Ibrahim', 'Jonas', 'Kavya', 'Liam', 'Mei', 'Nadia', 'Omar',
  'Priya', 'Quentin', 'Rosa', 'Samuel', 'Tatiana', 'Umar', 'Valentina', 'Wei', 'Ximena', 'Yusuf', 'Zoe', 'Aiko', 'Bruno', 'Carmen', 'Diego',
  'Emma', 'Felix', 'Grace', 'Hugo', 'Inès', 'Jamal', 'Kofi', 'Lena', 'Mateo', 'Nora', 'Oscar', 'Paula', 'Rahul', 'Sofia', 'Thabo', 'Uma',
];
const lastNames = [
  'Adeyemi', 'Bergström', 'Castillo', 'Dubois', 'Eriksen', 'Fernández', 'Goldberg', 'Haddad', 'Ivanova', 'Jensen', 'Kowalski', 'Li', 'Moreau',
  'Nakamura', "O'Brien", 'Patel', 'Quispe', 'Rossi', 'Schmidt', 'Tanaka', 'Usman', 'Van Dijk', 'Wang', 'Xu', 'Yilmaz', 'Zhang', 'Almeida',
  'Brown', 'Chen', 'Dlamini', 'Evans', 'Fischer', 'García', 'Hughes', 'Ito', 'Kim', 'Lopez', 'Mensah', 'Novak', 'Okafor', 'Park', 'Silva',
];

/** A username from a name: lower case ASCII letters, a dot between the parts. */
const usernameOf = (first: string, last: string) => `${first}.${last}`.normalize('NFD').replace(/[^A-Za-z.]/g, '').toLowerCase();

/** The students' names and usernames, all different (a number is added to a username that repeats). */
function people(count: number, rand: () => number): { name: string; username: string }[] {
  const taken = new Set<string>();
  return Array.from({ length: count }, () => {
    const first = firstNames[Math.floor(rand() * firstNames.length)]!;
    const last = lastNames[Math.floor(rand() * lastNames.length)]!;
    let username = usernameOf(first, last);
    for (let n = 2; taken.has(username); n++) username = `${usernameOf(first, last)}${n}`;
    taken.add(username);
    return { name: `${first} ${last}`, username };
  });
}

/** Right and wrong answers of the demo book's questions (examples/book/); other books' questions get made-up ones. */
const knownAnswers: Record<string, { right: unknown; wrong: unknown[] }> = {
  'q1-1': { right: ['b'], wrong: [['a'], ['c']] },
  'q1-2': { right: ['length'], wrong: [['size'], ['len'], ['count'], ['length()']] },
  'q2-1': { right: ['c'], wrong: [['b'], ['a']] },
  'q2-2': { right: ['of'], wrong: [['in'], ['from']] },
};

function answersOf(id: string, kind: string, rand: () => number): { right: unknown; wrong: unknown[] } {
  const known = knownAnswers[id];
  if (known) return known;
  switch (kind) {
    case 'mchoice': {
      const choices = ['a', 'b', 'c', 'd'];
      const right = choices[Math.floor(rand() * 4)]!;
      return { right: [right], wrong: choices.filter((c) => c !== right).map((c) => [c]) };
    }
    case 'fitb':
      return { right: ['return'], wrong: [['print'], ['yield'], ['Return']] };
    case 'shortanswer':
      return { right: 'It repeats the body once for each item of the list.', wrong: ['It runs forever.', 'Once.', 'I am not sure.'] };
    case 'poll':
      return { right: 'agree', wrong: ['disagree', 'neutral'] };
    default:
      return { right: ['a'], wrong: [['b']] };
  }
}

/** Versions of a program, first to last: the demo book's activities have real ones, others a made-up function. */
const knownPrograms: Record<string, string[]> = {
  'ac1-1': [
    'const numbers = [1, 2, 3];\nconsole.log(numbers);',
    'const numbers = [1, 2, 3];\nlet sum = 0;\nfor (let i = 1; i < numbers.length; i++) sum += numbers[i];\nconsole.log(sum);',
    'const numbers = [1, 2, 3];\nlet sum = 0;\nfor (let i = 0; i < numbers.length; i++) sum += numbers[i];\nconsole.log(sum);',
    'const numbers = [4, 8, 15];\nconsole.log(numbers.reduce((a, b) => a + b, 0));',
  ],
  'ac2-1': [
    'for (const n of [1, 2, 3]) {\n  console.log(n);\n}',
    'for (const n of [1, 2, 3]) {\n  console.log(n + n);\n}',
    'for (const n of [1, 2, 3]) {\n  console.log(n * 2);\n}',
  ],
};

function programVersions(activity: string): string[] {
  return (
    knownPrograms[activity] ?? [
      `// ${activity}\nfunction solve(xs) {\n  return xs;\n}`,
      `// ${activity}\nfunction solve(xs) {\n  let total = 0;\n  for (const x of xs) total += x;\n  return total;\n}`,
      `// ${activity}\nfunction solve(xs) {\n  return xs.reduce((a, b) => a + b, 0);\n}\nconsole.log(solve([1, 2, 3]));`,
    ]
  );
}

const minute = 60_000;
const day = 24 * 60 * minute;

/** What kind of student one is: how far in the book (0-1), and when they stopped (days before the end). */
interface Profile {
  reach: number;
  stoppedDaysAgo: number;
  /** How likely a first attempt is right. */
  skill: number;
  consent: boolean;
}

function profileOf(index: number, rand: () => number): Profile {
  const skill = 0.35 + rand() * 0.55;
  const consent = rand() < 0.7;
  // Spread the kinds over the class by index, so that a small class has each: 1 in 10 never active, 1 in 6 done,
  // 1 in 5 far behind (stopped 8-18 days ago), the rest somewhere in the book and active in the last days.
  const kind = index % 30;
  if (kind === 7 || kind === 19 || kind === 28) return { reach: 0, stoppedDaysAgo: 0, skill, consent };
  if (kind % 6 === 2) return { reach: 1, stoppedDaysAgo: rand() * 3, skill: Math.max(skill, 0.7), consent };
  if (kind % 5 === 4) return { reach: 0.05 + rand() * 0.25, stoppedDaysAgo: 8 + rand() * 10, skill: Math.min(skill, 0.5), consent };
  return { reach: 0.3 + rand() * 0.6, stoppedDaysAgo: rand() * 4, skill, consent };
}

interface Counts {
  answers: number;
  programs: number;
  completions: number;
  events: number;
}

/** One student's work through the book, in time order (attempt and version numbers follow it). */
async function seedWork(db: Database, owner: Owner, toc: StoredToc, profile: Profile, window: { start: number; end: number }, rand: () => number, counts: Counts) {
  const pages = toc.chapters.flatMap((c) => c.pages);
  if (profile.reach === 0 || pages.length === 0) return;
  const reached = Math.max(1, Math.round(profile.reach * pages.length));
  const last = window.end - profile.stoppedDaysAgo * day - rand() * 3 * 60 * minute;
  let at = window.start + rand() * 2 * day;
  const step = Math.max(0, (last - at) / reached);
  for (let i = 0; i < reached; i++) {
    const page = pages[i]!;
    // The last page reached is where the student stopped (its work, of at most some 2.5 hours, ends before `now`); the
    // others are spread out before it.
    at = i === reached - 1 ? Math.max(at, last - 3 * 60 * minute) : at + step * (0.5 + rand() * 0.5);
    let t = at;
    const next = () => (t += (1 + rand() * 6) * minute);
    const events: NewEvent[] = [{ type: 'page:view', page: page.id, clientTime: Math.round(t) }];
    await saveEvents(db, owner, events, undefined, Math.round(t));
    counts.events += 1;
    for (const activity of page.activities) {
      const versions = programVersions(activity.id);
      // The first try, and on to a later version: one to all of them.
      const upTo = 1 + Math.floor(rand() * versions.length);
      for (let v = 0; v < upTo; v++) {
        await saveProgram(db, owner, activity.id, { code: versions[v]!, language: 'javascript', page: page.id }, undefined, Math.round(next()));
        await saveEvents(db, owner, [{ type: 'run', target: activity.id, page: page.id, data: JSON.stringify({ ok: v === upTo - 1, ms: 3 + Math.floor(rand() * 40) }), clientTime: Math.round(t) }], undefined, Math.round(t));
        counts.programs += 1;
        counts.events += 1;
      }
    }
    let finished = true;
    for (const question of page.questions) {
      if (rand() < 0.08) {
        finished = false;
        continue; // skipped
      }
      const { right, wrong } = answersOf(question.id, question.kind, rand);
      // Wrong tries before the right one (or before giving up, now and then).
      let tries = 0;
      while (rand() > profile.skill && tries < 4) tries++;
      const givesUp = tries === 4 || (tries > 0 && rand() < 0.15);
      for (let a = 0; a < tries; a++) {
        const answer: NewAnswer = { kind: question.kind, answer: wrong[Math.floor(rand() * wrong.length)], correct: false, score: 0, page: page.id };
        await saveAnswer(db, owner, question.id, answer, undefined, Math.round(next()));
        counts.answers += 1;
      }
      if (givesUp) {
        finished = false;
        continue;
      }
      await saveAnswer(db, owner, question.id, { kind: question.kind, answer: right, correct: true, score: question.points, page: page.id }, undefined, Math.round(next()));
      counts.answers += 1;
    }
    // The last page reached may still be open; the others are marked complete, most of the time (always by those who finished the book).
    const marks = profile.reach === 1 ? finished || rand() < 0.8 : i < reached - 1 && (finished || rand() < 0.6) && rand() < 0.92;
    if (marks) {
      await setPageComplete(db, owner, page.id, true, Math.round(next()));
      counts.completions += 1;
    }
    if (i === reached - 1) await setPosition(db, owner, page.id, Math.floor(rand() * 3000), Math.round(next()));
  }
}

/**
 * Seeds a course with its staff and `students` students and their work, unless the course exists already (then
 * nothing is written: a demo that restarts keeps its class). Accounts with the generated usernames that exist already
 * are enrolled as they are, without new work (a seeding that stopped half way ends on the next run).
 */
export async function seedClass(db: Database, options: ClassOptions): Promise<SeededClass> {
  const counts: Counts = { answers: 0, programs: 0, completions: 0, events: 0 };
  if (await findCourse(db, options.course.id)) return { created: false, students: 0, ...counts };
  const now = options.now ?? Date.now();
  const window = { start: now - (options.days ?? 21) * day, end: now - 30 * minute };
  const rand = random(options.seed ?? 101);
  const students = people(options.students, rand).map((person, index) => ({ ...person, profile: profileOf(index, rand), rand: random((options.seed ?? 101) * 7919 + index) }));

  const staffIds: { id: string; role: StaffRole }[] = [];
  for (const s of options.staff) {
    const existing = await findUserByUsername(db, s.username);
    const user = existing ?? (await createAccount(db, { username: s.username, passwordHash: await hashPassword(s.password, options.passwordCost), name: s.name, email: `${s.username}@example.edu` }));
    staffIds.push({ id: user.id, role: s.role });
  }

  const ids: string[] = [];
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < students.length) {
      const student = students[next++]!;
      const existing = await findUserByUsername(db, student.username);
      const user =
        existing ??
        (await createAccount(db, { username: student.username, passwordHash: null, name: student.name, email: `${student.username}@students.example.edu`, researchConsent: student.profile.consent }));
      ids.push(user.id);
      if (!existing) await seedWork(db, { userId: user.id, bookId: options.bookId }, options.toc, student.profile, window, student.rand, counts);
      if (++done % 100 === 0) options.progress?.(done, students.length);
    }
  };
  await Promise.all(Array.from({ length: options.parallel ?? 4 }, worker));

  await createCourse(db, { id: options.course.id, bookId: options.bookId, title: options.course.title, term: options.course.term ?? null });
  await enrol(db, options.course.id, ids, 'roster', window.start - day);
  for (const { id, role } of staffIds) await addStaff(db, options.course.id, id, role);
  return { created: true, students: ids.length, ...counts };
}

/** The demo's course on the demo book: its id, and the staff who log in to the dashboard (printed by `npm run demo`). */
export const demoCourse = { id: 'demo-101', title: 'Demo course: programming basics', term: 'Autumn 2026' };
export const demoStaff: readonly StaffAccount[] = [
  { username: 'instructor', password: 'demo-instructor', name: 'Irene Okonkwo', role: 'instructor' },
  { username: 'assistant', password: 'demo-assistant', name: 'Tomás Berger', role: 'ta' },
];
/** Students in the demo's course. */
export const demoStudents = 28;
