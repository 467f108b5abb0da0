import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { courseCounts, coursesOf, enrol, findCourseByCode, isEnrolled, listCourses, rotateJoinCode, staffRole, updateCourse, type CourseRow } from '../db/courses.js';
import type { Queries } from '../db/index.js';
import { HttpError } from '../lib/errors.js';
import { normaliseJoinCode } from '../lib/join-code.js';
import { parseInstant } from '../lib/time.js';
import { courseOf, unknownCourse } from '../plugins/access.js';
import { requireUser } from '../plugins/auth.js';
import { errorReplies } from '../schemas/common.js';
import { AllCoursesReply, CourseDetail, CourseParams, JoinBody, JoinCodeReply, JoinReply, MyCoursesReply, PatchCourseBody } from '../schemas/course.js';
import type { Static } from 'typebox';

/** A course as a student sees it. */
const publicCourse = (course: CourseRow) => ({ id: course.id, title: course.title, term: course.term, book: course.bookId });
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A course as its staff see it (GET and PATCH /api/courses/:course). */
async function detail(db: Queries, course: CourseRow): Promise<Static<typeof CourseDetail>> {
  const counts = await courseCounts(db, course.id);
  return {
    ...publicCourse(course),
    open: course.open,
    joinCode: course.joinCode,
    startsAt: iso(course.startsAt),
    endsAt: iso(course.endsAt),
    createdAt: iso(course.createdAt)!,
    ...counts,
  };
}

/**
 * The one answer to a code that opens no course, whether no course ever had it, a course had it before a rotation, or
 * it was never a code: nothing in it tells them apart.
 */
const unknownCode = () => new HttpError(404, 'unknown_code', 'no course has this join code: check it with your instructor');

/** Milliseconds of a date in the body (the schema matched its pattern), null for null, or a 400 naming the field. */
function instant(value: string | null | undefined, field: string): number | null | undefined {
  if (value === undefined || value === null) return value;
  const ms = parseInstant(value);
  if (ms === undefined) throw new HttpError(400, 'invalid_request', `body/${field} is no real date or time (e.g. 2026-09-01 or 2026-09-01T08:00:00Z)`);
  return ms;
}

const courseRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app;

  app.post(
    '/api/courses/join',
    {
      config: { access: 'user' },
      schema: {
        tags: ['courses'],
        summary: "Join a course with its join code (the course's staff are not enrolled: they teach it). Rate-limited per client and per user before the code is looked up",
        body: JoinBody,
        response: { 200: JoinReply, ...errorReplies(400, 401, 403, 404, 415, 429) },
      },
    },
    async (request) => {
      const user = requireUser(request);
      await app.limitJoinAttempt(request, user.id);
      const course = await findCourseByCode(db, normaliseJoinCode(request.body.code));
      if (!course) {
        request.log.info({ event: 'join_refused', reason: 'unknown_code', userId: user.id, client: request.ip }, 'course join refused');
        throw unknownCode();
      }
      const joined = publicCourse(course);
      // Staff trying their own code (or opening the book from their ?course= link) stay out of their reports and grades.
      const staff = await staffRole(db, course.id, user.id);
      if (staff) return { course: joined, enrolled: false, already: true, as: staff };
      // Already in: a course closed since still says so (the student's ?course= link, clicked again).
      if (await isEnrolled(db, course.id, user.id)) return { course: joined, enrolled: true, already: true, as: 'student' as const };
      if (!course.open) {
        request.log.info({ event: 'join_refused', reason: 'course_closed', course: course.id, userId: user.id, client: request.ip }, 'course join refused');
        throw new HttpError(403, 'course_closed', `course "${course.title}" is closed to joining: ask your instructor to open it`);
      }
      const added = await enrol(db, course.id, [user.id], 'code');
      if (added > 0) request.log.info({ event: 'course_joined', course: course.id, book: course.bookId, userId: user.id, username: user.username, via: 'code' }, 'course joined');
      return { course: joined, enrolled: true, already: added === 0, as: 'student' as const };
    },
  );

  app.get(
    '/api/courses/mine',
    {
      config: { access: 'user' },
      schema: {
        tags: ['courses'],
        summary: 'The courses the caller studies or teaches, by id (one entry per role); the join code only where they are staff',
        response: { 200: MyCoursesReply, ...errorReplies(401) },
      },
    },
    async (request) => {
      const user = requireUser(request);
      const mine = await coursesOf(db, user.id);
      return {
        courses: mine.map(({ course, as }) => ({ ...publicCourse(course), as, open: course.open, ...(as === 'student' ? {} : { joinCode: course.joinCode }) })),
      };
    },
  );

  app.get(
    '/api/courses',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['courses'],
        summary: 'Every course, by id: title, term, book, whether it is open (admins; the dashboard lists them)',
        response: { 200: AllCoursesReply, ...errorReplies(401, 403) },
      },
    },
    async () => ({ courses: (await listCourses(db)).map((course) => ({ ...publicCourse(course), open: course.open })) }),
  );

  app.get(
    '/api/courses/:course',
    {
      config: { access: 'course-staff' },
      schema: {
        tags: ['courses'],
        summary: 'A course: title, term, book, whether it is open, its join code and dates, how many students and staff',
        params: CourseParams,
        response: { 200: CourseDetail, ...errorReplies(400, 401, 403, 404) },
      },
    },
    async (request) => detail(db, courseOf(request).course),
  );

  app.patch(
    '/api/courses/:course',
    {
      config: { access: 'course-instructor' },
      schema: {
        tags: ['courses'],
        summary: "Change a course's title, term, dates (its reports' bounds), or open or close it to joining",
        params: CourseParams,
        body: PatchCourseBody,
        response: { 200: CourseDetail, ...errorReplies(400, 401, 403, 404, 415) },
      },
    },
    async (request) => {
      const { course, user } = courseOf(request);
      const { title, term, open } = request.body;
      const startsAt = instant(request.body.startsAt, 'startsAt');
      const endsAt = instant(request.body.endsAt, 'endsAt');
      const starts = startsAt === undefined ? course.startsAt : startsAt;
      const ends = endsAt === undefined ? course.endsAt : endsAt;
      if (starts !== null && ends !== null && starts > ends) {
        throw new HttpError(400, 'invalid_request', `body/startsAt (${iso(starts)}) must not be after body/endsAt (${iso(ends)})`);
      }
      const updated = await updateCourse(db, course.id, { title, term, open, startsAt, endsAt });
      if (!updated) throw unknownCourse(course.id);
      request.log.info({ event: 'course_updated', course: course.id, by: user.username, userId: user.id, changes: request.body }, 'course updated');
      return detail(db, updated);
    },
  );

  app.post(
    '/api/courses/:course/code',
    {
      config: { access: 'course-instructor' },
      schema: {
        tags: ['courses'],
        summary: 'Give a course a new join code: the old one stops working at once (students already enrolled stay)',
        params: CourseParams,
        response: { 200: JoinCodeReply, ...errorReplies(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { course, user } = courseOf(request);
      const joinCode = await rotateJoinCode(db, course.id);
      if (joinCode === undefined) throw unknownCourse(course.id);
      request.log.info({ event: 'course_code_rotated', course: course.id, by: user.username, userId: user.id }, 'join code rotated');
      return { joinCode };
    },
  );
};

export default courseRoutes;
