import type { FastifyInstance } from 'fastify';
import { addStaff, createCourse, enrol } from '../db/courses.js';
import type { Role, StaffRole } from '../db/schema.js';
import { createAccount } from '../db/users.js';
import { hashPassword } from '../lib/passwords.js';
import { cookieOf, fromBook, register } from './helper.js';

/** People for the instructor, export and authorisation tests, logged in through the API (cookie mode). */

const password = 'correct horse battery';

/** An account with a role, created as `folio users add` does, then logged in: its request headers. */
export async function loginAs(app: FastifyInstance, username: string, role: Role, extra: { researchConsent?: boolean; name?: string; email?: string } = {}) {
  const user = await createAccount(app.db, { username, passwordHash: await hashPassword(password, app.config.passwordCost), role, ...extra });
  const res = await app.inject({ method: 'POST', url: '/api/auth/login', headers: fromBook, payload: { username, password } });
  if (res.statusCode !== 200) throw new Error(`login as ${username}: ${res.statusCode} ${res.body}`);
  return { headers: { ...fromBook, cookie: cookieOf(res) }, id: user.id };
}

/** A student who registered on the book's page, with or without research consent: their id and request headers. */
export async function student(app: FastifyInstance, username: string, extra: { researchConsent?: boolean; name?: string; email?: string } = {}) {
  const { res, cookie } = await register(app, username, extra);
  if (res.statusCode !== 201) throw new Error(`register ${username}: ${res.statusCode} ${res.body}`);
  return { headers: { ...fromBook, cookie }, id: (res.json() as { user: { id: string } }).user.id };
}

/** Sends a request as the given headers and fails loudly on anything but the expected status. */
export async function expectStatus(app: FastifyInstance, status: number, method: 'GET' | 'PUT' | 'POST', url: string, headers: Record<string, string>, payload?: unknown) {
  const res = await app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload: payload as object }) });
  if (res.statusCode !== status) throw new Error(`${method} ${url}: expected ${status}, got ${res.statusCode} ${res.body}`);
  return res;
}

/** A small graded book: ch1: p1 (q1 2 points, q2 3 points, ac1), p2 (no question: its completion); ch2: p3 (q3 4 points). */
export const twoChapterToc = {
  chapters: [
    {
      id: 'ch1',
      title: 'One',
      pages: [
        { id: 'p1', title: 'Page 1', questions: [{ id: 'q1', kind: 'mchoice', points: 2 }, { id: 'q2', kind: 'fitb', points: 3 }], activities: [{ id: 'ac1' }] },
        { id: 'p2', title: 'Page 2', questions: [], activities: [] },
      ],
    },
    { id: 'ch2', title: 'Two', pages: [{ id: 'p3', title: 'Page 3', questions: [{ id: 'q3', kind: 'shortanswer', points: 4 }], activities: [] }] },
  ],
};

/** A course of a book (which must exist), open, with a join code. */
export async function courseOf(app: FastifyInstance, id: string, bookId: string, extra: { title?: string; startsAt?: number; endsAt?: number } = {}) {
  return createCourse(app.db, { id, bookId, title: extra.title ?? `Course ${id}`, startsAt: extra.startsAt, endsAt: extra.endsAt });
}

/** An account that is staff of a course (`instructor` or `ta`), logged in: its id and request headers. */
export async function staffOf(app: FastifyInstance, username: string, courseId: string, role: StaffRole) {
  const login = await loginAs(app, username, 'student');
  await addStaff(app.db, courseId, login.id, role);
  return login;
}

/** A student who registered on the book's page and is enrolled in a course (by staff): their id and request headers. */
export async function enrolled(app: FastifyInstance, username: string, courseId: string, extra: { researchConsent?: boolean; name?: string; email?: string } = {}) {
  const registered = await student(app, username, extra);
  await enrol(app.db, courseId, [registered.id], 'staff');
  return registered;
}
