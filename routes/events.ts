import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { saveEvents } from '../db/work.js';
import { HttpError } from '../lib/errors.js';
import { BookParams, errorReplies } from '../schemas/common.js';
import { jsonDepth } from '../lib/json-depth.js';
import { Accepted, clientTimeRange, EventsBody, maxEventDataBytes, maxEventDataDepth } from '../schemas/work.js';
import { ownerOf, writerOf } from '../plugins/access.js';

const eventRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/api/books/:book/events',
    {
      config: { access: 'writer' },
      schema: {
        tags: ['events'],
        summary: 'Record 1-500 research events (also sent with fetch keepalive while the page unloads)',
        params: BookParams,
        body: EventsBody,
        response: { 202: Accepted, ...errorReplies(400, 401, 403, 404, 413, 415) },
      },
    },
    async (request, reply) => {
      const batch = request.body.events.map((e, i) => {
        if (jsonDepth(e.data, maxEventDataDepth) > maxEventDataDepth) {
          throw new HttpError(400, 'invalid_request', `body/events/${i}/data nests arrays and objects deeper than ${maxEventDataDepth} levels`);
        }
        // Serialised once: to measure it and to store it.
        const data = e.data === undefined ? undefined : JSON.stringify(e.data);
        if (data !== undefined && Buffer.byteLength(data) > maxEventDataBytes) throw new HttpError(413, 'too_large', `body/events/${i}/data is over 16 KiB`);
        const clientTime = typeof e.clientTime === 'string' ? Date.parse(e.clientTime) : e.clientTime;
        if (clientTime !== undefined && !(clientTime >= clientTimeRange.minimum && clientTime <= clientTimeRange.maximum)) {
          throw new HttpError(400, 'invalid_request', `body/events/${i}/clientTime must be from 2000-01-01 to 2100-01-01 (UTC)`);
        }
        return { type: e.type, target: e.target, page: e.page, data, clientTime };
      });
      const owner = await writerOf(request, reply);
      return reply.code(202).send({ accepted: await saveEvents(app.db, owner, batch, app.config) });
    },
  );
};

export default eventRoutes;
