import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Static } from 'typebox';
import { exportContentTypes, exportFileName, ExportUnavailableError, openExport } from '../db/exports.js';
import { HttpError } from '../lib/errors.js';
import { parseInstant } from '../lib/time.js';
import { BookParams, errorReplies } from '../schemas/common.js';
import { ExportQuery, ExportReply } from '../schemas/instructor.js';
import { requireUser } from '../plugins/auth.js';

/** Milliseconds of `since` or `until` (already matched by the schema's pattern), or a 400 naming the parameter. */
function instant(value: string, name: string): number {
  const ms = parseInstant(value);
  if (ms === undefined) throw new HttpError(400, 'invalid_request', `${name} is not a real date or time: ${value}`);
  return ms;
}

/** What an export covers: a book's consenting students, or a course's (enrolled and consenting), within the course's dates. */
export interface ExportScope {
  book: string;
  course?: { id: string; startsAt: number | null; endsAt: number | null };
}

/**
 * Answers an export request (the book's, or a course's): checks identify (admins only) and the window, logs who
 * exported what, and streams the rows with the export's headers.
 */
export async function sendExport(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, query: Static<typeof ExportQuery>, scope: ExportScope) {
  const { book, course } = scope;
  const user = requireUser(request);
  const { kind = 'events', format = 'jsonl', identify = false, csvFormulas = 'escape' } = query;
  if (identify && user.role !== 'admin') throw new HttpError(403, 'forbidden', `identify=true needs the admin role: ${user.role === 'student' ? 'course staff' : `${user.role}s`} get pseudonymised exports`);
  const asked = {
    since: query.since === undefined ? undefined : instant(query.since, 'querystring/since'),
    until: query.until === undefined ? undefined : instant(query.until, 'querystring/until'),
  };
  if (asked.since !== undefined && asked.until !== undefined && asked.since > asked.until) throw new HttpError(400, 'invalid_request', 'querystring/since must not be after querystring/until');
  // A course's export never reaches outside its dates.
  const since = course?.startsAt == null ? asked.since : Math.max(asked.since ?? course.startsAt, course.startsAt);
  const until = course?.endsAt == null ? asked.until : Math.min(asked.until ?? course.endsAt, course.endsAt);

  const audit = { event: 'export', by: user.username, userId: user.id, role: user.role, book, ...(course ? { course: course.id } : {}), kind, format, identified: identify, since: query.since, until: query.until };
  if (identify) request.log.warn({ ...audit, identify }, 'research export with identities (identify=true)');
  else request.log.info(audit, 'research export');

  let exported;
  try {
    const homePage = app.config.publicOrigin ?? `${request.protocol}://${request.host}`;
    exported = await openExport(app.db, { book, course: course?.id, kind, format, since, until: until !== undefined && since !== undefined && until < since ? since : until, identify, secret: app.secret, homePage, csvFormulas });
  } catch (err) {
    if (err instanceof ExportUnavailableError) throw new HttpError(503, 'export_unavailable', err.message);
    throw err;
  }
  const { meta, stream } = exported;
  reply
    .type(exportContentTypes[format])
    .header('content-disposition', `attachment; filename="${exportFileName(meta)}"`)
    .header('cache-control', 'no-store')
    .header('x-folio-export-users', String(meta.users))
    .header('x-folio-excluded-users', String(meta.excludedUsers))
    .header('x-folio-export-until', meta.until);
  // HEAD answers with the headers alone; reading the rows for nothing would be wasted.
  if (request.method === 'HEAD') {
    await new Promise<void>((resolve) => stream.once('close', resolve).destroy());
    return reply.send();
  }
  stream.once('end', () => {
    if (stream.skipped > 0) request.log.warn({ ...audit, skipped: stream.skipped, firstSkip: stream.firstSkip }, 'research export left out stored rows it could not write');
  });
  return reply.trailer('x-folio-skipped', async () => String(stream.skipped)).send(stream);
}

const exportRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/books/:book/export',
    {
      config: { access: 'research' },
      schema: {
        tags: ['research'],
        summary: 'Stream research data of consenting students, pseudonymised, as JSON Lines, CSV or xAPI statements (researchers and admins; identify=true admins only; course staff use /api/courses/:course/export)',
        params: BookParams,
        querystring: ExportQuery,
        response: { 200: ExportReply, ...errorReplies(400, 401, 403, 404, 503) },
      },
    },
    async (request, reply) => sendExport(app, request, reply, request.query, { book: request.params.book }),
  );
};

export default exportRoutes;
