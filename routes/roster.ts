import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { unenrol } from '../db/courses.js';
import { passwordLinkUrl } from '../db/password-links.js';
import { enrolUsernames, importRoster, parseRoster, rosterPage } from '../db/roster.js';
import { UsernameTakenError } from '../db/users.js';
import { afterCursor } from '../lib/cursor.js';
import { HttpError } from '../lib/errors.js';
import { courseOf } from '../plugins/access.js';
import { errorReplies } from '../schemas/common.js';
import { CourseParams } from '../schemas/course.js';
import { RosterBody, RosterChangeReply, RosterQuery, RosterReply, RosterStudentParams } from '../schemas/roster.js';

/**
 * A course's roster: its staff read it, its instructors (and admins) change it, by usernames of existing accounts
 * or a roster CSV that also makes accounts (each with a set-password link the reply gives, for the instructor to send).
 */
const rosterRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db, config } = app;

  app.get(
    '/api/courses/:course/roster',
    {
      config: { access: 'course-staff' },
      schema: {
        tags: ['courses'],
        summary: "The course's enrolled students, a page at a time (`next` is the cursor of the next page)",
        params: CourseParams,
        querystring: RosterQuery,
        response: { 200: RosterReply, ...errorReplies(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { course } = courseOf(request);
      const { limit, after } = request.query;
      const page = await rosterPage(db, course.id, limit, after === undefined ? undefined : afterCursor(after));
      return { course: course.id, students: page.students.map((s) => ({ ...s, enrolledAt: new Date(s.enrolledAt).toISOString() })), next: page.next };
    },
  );

  app.post(
    '/api/courses/:course/roster',
    {
      config: { access: 'course-instructor' },
      schema: {
        tags: ['courses'],
        summary: 'Enrol students: usernames of existing accounts (all or none), or a roster CSV (username,name,email) that makes accounts for new usernames, each with a set-password link',
        params: CourseParams,
        body: RosterBody,
        response: { 200: RosterChangeReply, ...errorReplies(400, 401, 403, 404, 409, 415) },
      },
    },
    async (request) => {
      const { course, user } = courseOf(request);
      const body = request.body;
      if ('usernames' in body) {
        const result = await enrolUsernames(db, course.id, body.usernames, 'staff');
        if ('unknown' in result) {
          throw new HttpError(400, 'unknown_users', `no account has the username(s) ${result.unknown.join(', ')}: nobody was enrolled (a roster CSV makes accounts for new usernames)`);
        }
        request.log.info({ event: 'roster_changed', by: user.username, userId: user.id, course: course.id, enrolled: result.enrolled }, 'students enrolled by staff');
        return { ...result, created: [] };
      }
      const { entries, problems } = parseRoster(body.csv);
      if (problems.length > 0) throw new HttpError(400, 'invalid_roster', `the roster cannot be imported (nothing was changed): ${problems.join('; ')}`);
      let result;
      try {
        result = await importRoster(db, course.id, entries, config.passwordLinkDays);
      } catch (err) {
        if (err instanceof UsernameTakenError) throw new HttpError(409, 'username_taken', err.message);
        throw err;
      }
      const origin = config.publicOrigin ?? `${request.protocol}://${request.host}`;
      request.log.info(
        { event: 'roster_imported', by: user.username, userId: user.id, course: course.id, created: result.created.length, enrolled: result.enrolled },
        'course roster imported',
      );
      return {
        enrolled: result.enrolled,
        alreadyEnrolled: result.alreadyEnrolled,
        created: result.created.map((c) => ({ username: c.username, link: passwordLinkUrl(origin, c.token) })),
      };
    },
  );

  app.delete(
    '/api/courses/:course/roster/:user',
    {
      config: { access: 'course-instructor' },
      schema: {
        tags: ['courses'],
        summary: 'Take a student out of the course (their work stays theirs)',
        params: RosterStudentParams,
        response: { 204: { type: 'null' }, ...errorReplies(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const { course, user } = courseOf(request);
      if (!(await unenrol(db, course.id, request.params.user))) {
        throw new HttpError(404, 'not_enrolled', `user ${request.params.user} is not enrolled in ${course.id} (see GET /api/courses/${course.id}/roster)`);
      }
      request.log.info({ event: 'roster_changed', by: user.username, userId: user.id, course: course.id, unenrolled: request.params.user }, 'student unenrolled by staff');
      return reply.code(204).send(null);
    },
  );
};

export default rosterRoutes;
