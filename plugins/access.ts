import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerHookHandler, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { findCourse, staffRole, type CourseRow } from '../db/courses.js';
import type { StaffRole } from '../db/schema.js';
import type { UserRow } from '../db/users.js';
import type { Owner } from '../db/work.js';
import { HttpError } from '../lib/errors.js';
import { ensureUser, requireRole, requireUser, unauthenticated } from './auth.js';

/**
 * Who may call a route, declared on it as `config: { access }`:
 * - `public`: anyone, with or without a session;
 * - `user`: anyone with a live session, anonymous students included (their own things; with `:book`, their work in it);
 * - `writer`: the same, and a first write without any session starts an anonymous one (`:book` routes only);
 * - `research`: researchers and admins (a book's pseudonymised research data);
 * - `admin`: admins only (book-wide reports);
 * - `course-staff`: the course's instructors and teaching assistants, and admins (`:course` routes);
 * - `course-instructor`: the course's instructors and admins (changes to the course, its roster).
 */
export const accessLevels = ['public', 'user', 'writer', 'research', 'admin', 'course-staff', 'course-instructor'] as const;
export type Access = (typeof accessLevels)[number];

/** How each level reads in the OpenAPI description of its routes. */
export const accessDescriptions: Record<Access, string> = {
  public: 'anyone, without a session',
  user: 'anyone with a session (anonymous students included): their own data',
  writer: 'anyone: a first write without a session starts an anonymous one',
  research: 'researchers and admins',
  admin: 'admins',
  'course-staff': "the course's instructors and teaching assistants, and admins",
  'course-instructor': "the course's instructors, and admins",
};

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route (plugins/access.ts); every route registered after that plugin must say. */
    access?: Access;
  }
  interface FastifyRequest {
    /** On `user` and `writer` routes of a book: whose work the request is about (the caller's, in that book). */
    owner: Owner | null;
    /** On course routes: the course, which exists. */
    course: CourseRow | null;
    /** On course routes: what the caller is to the course (`admin` for a server admin who is not its staff). */
    courseRole: StaffRole | 'admin' | null;
  }
}

/** The request's book work owner, which its route's access (`user` or `writer` with `:book`) resolved. */
export function ownerOf(request: FastifyRequest): Owner {
  if (!request.owner) throw new Error(`${request.routeOptions.url}: no owner (the route's access must be user or writer, with :book)`);
  return request.owner;
}

/**
 * Whose work a write on a `writer` route is: the caller's, or, on a first write without any session, a new anonymous
 * user's with a new session. Called by the handler once it found the write valid: a refused write starts nobody.
 */
export async function writerOf(request: FastifyRequest, reply: FastifyReply): Promise<Owner> {
  if (request.owner) return request.owner;
  const bookId = (request.params as Params)?.book;
  if (request.routeOptions.config.access !== 'writer' || bookId === undefined) throw new Error(`${request.routeOptions.url}: writerOf needs writer access, with :book`);
  return (request.owner = { userId: (await ensureUser(request, reply)).id, bookId });
}

/** The request's course and the caller, which its route's course access resolved. */
export function courseOf(request: FastifyRequest): { course: CourseRow; role: StaffRole | 'admin'; user: UserRow } {
  if (!request.course || !request.courseRole || !request.user) throw new Error(`${request.routeOptions.url}: no course (the route's access must be course-staff or course-instructor)`);
  return { course: request.course, role: request.courseRole, user: request.user };
}

type Params = { book?: string; course?: string } | undefined;

/** A 404 for a course id nobody has (staff find their courses in GET /api/courses/mine). */
export function unknownCourse(id: string): HttpError {
  return new HttpError(404, 'unknown_course', `there is no course "${id}" (your courses are in GET /api/courses/mine)`);
}

/** The course of a course route and the caller's place in it, or 401, 404, 403. */
async function courseAccess(request: FastifyRequest, roles: readonly StaffRole[]): Promise<void> {
  const user = requireUser(request);
  const id = (request.params as Params)?.course;
  if (id === undefined) throw new Error(`${request.routeOptions.url}: course access needs a :course parameter`);
  const course = await findCourse(request.server.db, id);
  if (!course) throw unknownCourse(id);
  const role = user.role === 'admin' ? 'admin' : await staffRole(request.server.db, id, user.id);
  if (role === undefined || (role !== 'admin' && !roles.includes(role))) {
    throw new HttpError(403, 'forbidden', roles.length === 1 ? `only the instructors of course "${id}" may do this` : `only the staff of course "${id}" may see this`);
  }
  request.course = course;
  request.courseRole = role;
}

/** The book of a `:book` route, which must exist (404). */
function book(request: FastifyRequest): string | undefined {
  const id = (request.params as Params)?.book;
  if (id !== undefined) request.server.books.known(id);
  return id;
}

/** Each level's check, run before the route's handler (after its body and parameters are validated). */
const checks: Record<Exclude<Access, 'public'>, preHandlerHookHandler> = {
  user(request, _reply, done) {
    const bookId = book(request);
    const user = requireUser(request);
    if (bookId !== undefined) request.owner = { userId: user.id, bookId };
    done();
  },
  // A caller without a session gets an anonymous user from writerOf, once the handler found the write valid.
  writer(request, _reply, done) {
    const bookId = book(request);
    if (bookId === undefined) throw new Error(`${request.routeOptions.url}: writer access needs a :book parameter`);
    if (request.user) request.owner = { userId: request.user.id, bookId };
    else if (request.credentialStale) throw unauthenticated(request);
    done();
  },
  research(request, _reply, done) {
    requireRole(request, 'admin', 'researcher');
    book(request);
    done();
  },
  admin(request, _reply, done) {
    requireRole(request, 'admin');
    book(request);
    done();
  },
  'course-staff': (request) => courseAccess(request, ['instructor', 'ta']),
  'course-instructor': (request) => courseAccess(request, ['instructor']),
};

/** Routes registered by packages (the OpenAPI page), which declare nothing and serve only public documents. */
const undeclaredPrefixes = ['/docs'];

/**
 * Authorisation declared on each route: every route registered after this plugin states who may call it
 * (`config: { access }`), or registering it fails. Its check runs as the route's first preHandler and decorates
 * the request with what it resolved (`owner`, `course`, `courseRole`); the OpenAPI description of the route says
 * who may call it. Test code enumerates the route table with each route's declared access (test/authz.test.ts).
 */
export default fp(
  async function accessPlugin(app: FastifyInstance) {
    app.decorateRequest('owner', null);
    app.decorateRequest('course', null);
    app.decorateRequest('courseRole', null);
    app.addHook('onRoute', (route: RouteOptions) => {
      const access = route.config?.access;
      if (access === undefined) {
        if (undeclaredPrefixes.some((prefix) => route.url.startsWith(prefix))) return;
        throw new Error(`${[route.method].flat().join(',')} ${route.url} does not declare who may call it: give it config: { access } (plugins/access.ts)`);
      }
      if (!accessLevels.includes(access)) throw new Error(`${route.url}: unknown access "${String(access)}" (one of ${accessLevels.join(', ')})`);
      if (route.schema && !route.schema.hide) {
        const who = `Who may call: ${accessDescriptions[access]}.`;
        route.schema.description = route.schema.description ? `${who}\n\n${route.schema.description}` : who;
      }
      if (access === 'public') return;
      route.preHandler = [checks[access], ...[route.preHandler ?? []].flat()];
    });
  },
  { name: 'folio-access', fastify: '5.x', dependencies: ['folio-auth', 'folio-books'], decorators: { fastify: ['db', 'books'] } },
);
