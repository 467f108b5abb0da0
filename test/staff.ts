import type { FastifyInstance } from 'fastify';
import type { Role } from '../db/schema.js';
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
