import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Static } from 'typebox';
import {
  createExperiment,
  ExperimentCourseError,
  ExperimentExistsError,
  experimentReport,
  exposeTo,
  findExperiment,
  listExperiments,
  stopExperiment,
  type ExperimentRow,
  type ExperimentSummary as Summary,
} from '../db/experiments.js';
import type { Queries } from '../db/index.js';
import { ExperimentDefinitionError } from '../lib/experiments.js';
import { HttpError } from '../lib/errors.js';
import { parseInstant } from '../lib/time.js';
import { ownerOf } from '../plugins/access.js';
import { requireUser } from '../plugins/auth.js';
import { BookParams, errorReplies } from '../schemas/common.js';
import { ExperimentList, ExperimentParams, ExperimentReport, ExperimentSummary, NewExperimentBody, ReportQuery, VariantQuery, VariantReply } from '../schemas/experiments.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** An experiment as researchers see it: no salt. */
export function summaryJson(e: Summary): Static<typeof ExperimentSummary> {
  return {
    id: e.id,
    book: e.bookId,
    variants: e.counts,
    courses: e.courses,
    startsAt: iso(e.startsAt),
    endsAt: iso(e.endsAt),
    consentOnly: e.consentOnly,
    stoppedAt: iso(e.stoppedAt),
    status: e.status,
    createdAt: iso(e.createdAt)!,
  };
}

/** The experiment of a book, or 404 (an experiment of another book is unknown here). */
async function experimentOf(db: Queries, book: string, id: string): Promise<ExperimentRow> {
  const found = await findExperiment(db, id);
  if (!found || found.bookId !== book) throw new HttpError(404, 'unknown_experiment', `book ${book} has no experiment "${id}" (GET /api/books/${book}/experiments lists them)`);
  return found;
}

async function summaryOf(db: Queries, book: string, id: string): Promise<Static<typeof ExperimentSummary>> {
  return summaryJson((await listExperiments(db, book)).find((e) => e.id === id)!);
}

function instant(value: string | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseInstant(value);
  if (ms === undefined) throw new HttpError(400, 'invalid_request', `body/${field} is not a real date or time: ${value}`);
  return ms;
}

const experimentRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/books/:book/experiments/:experiment',
    {
      // It records the first exposure: a cookie's request must come from an origin of the book, as writes must.
      config: { access: 'user', recordsOnRead: true },
      schema: {
        tags: ['experiments'],
        summary: "The student's variant of an experiment: assigned (deterministically) and recorded at the first call, with its time and page; the same on every device",
        params: ExperimentParams,
        querystring: VariantQuery,
        response: { 200: VariantReply, ...errorReplies(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const owner = ownerOf(request);
      const experiment = await experimentOf(app.db, owner.bookId, request.params.experiment);
      return exposeTo(app.db, experiment, { ...owner, consent: requireUser(request).researchConsent }, request.query.page ?? null);
    },
  );

  app.get(
    '/api/books/:book/experiments',
    {
      config: { access: 'research' },
      schema: {
        tags: ['experiments'],
        summary: "The book's experiments, with the students exposed to each variant (researchers and admins)",
        params: BookParams,
        response: { 200: ExperimentList, ...errorReplies(401, 403, 404) },
      },
    },
    async (request) => ({ experiments: (await listExperiments(app.db, request.params.book)).map(summaryJson) }),
  );

  app.post(
    '/api/books/:book/experiments',
    {
      config: { access: 'research' },
      schema: {
        tags: ['experiments'],
        summary: 'Define an experiment of the book: variants with weights, optionally limited to courses, a time window and consenting students (researchers and admins)',
        params: BookParams,
        body: NewExperimentBody,
        response: { 201: ExperimentSummary, ...errorReplies(400, 401, 403, 404, 409, 415) },
      },
    },
    async (request, reply) => {
      const { book } = request.params;
      const { id, variants, courses, start, end, consentOnly } = request.body;
      const startsAt = instant(start, 'start');
      const endsAt = instant(end, 'end');
      if (startsAt !== undefined && endsAt !== undefined && endsAt <= startsAt) throw new HttpError(400, 'invalid_request', 'body/end must be after body/start');
      try {
        await createExperiment(app.db, { id, bookId: book, variants, courses, startsAt, endsAt, consentOnly });
      } catch (err) {
        if (err instanceof ExperimentExistsError) throw new HttpError(409, 'experiment_exists', err.message);
        if (err instanceof ExperimentCourseError || err instanceof ExperimentDefinitionError) throw new HttpError(400, 'invalid_experiment', err.message);
        throw err;
      }
      request.log.info({ event: 'experiment_added', by: requireUser(request).username, book, experiment: id }, 'experiment added');
      return reply.code(201).send(await summaryOf(app.db, book, id));
    },
  );

  app.post(
    '/api/books/:book/experiments/:experiment/stop',
    {
      config: { access: 'research' },
      schema: {
        tags: ['experiments'],
        summary: 'Stop an experiment: nobody new is assigned; the assigned keep their variant and their rows in exports (researchers and admins)',
        params: ExperimentParams,
        response: { 200: ExperimentSummary, ...errorReplies(401, 403, 404) },
      },
    },
    async (request) => {
      const { book, experiment } = request.params;
      await experimentOf(app.db, book, experiment);
      await stopExperiment(app.db, experiment);
      request.log.info({ event: 'experiment_stopped', by: requireUser(request).username, book, experiment }, 'experiment stopped');
      return summaryOf(app.db, book, experiment);
    },
  );

  app.get(
    '/api/books/:book/experiments/:experiment/report',
    {
      config: { access: 'research' },
      schema: {
        tags: ['experiments'],
        summary: "Per variant: consenting students exposed, mean score and completion on the experiment's pages, and two-sided tests against the first variant (researchers and admins)",
        params: ExperimentParams,
        querystring: ReportQuery,
        response: { 200: ExperimentReport, ...errorReplies(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const experiment = await experimentOf(app.db, request.params.book, request.params.experiment);
      return experimentReport(app.db, experiment, request.query.page);
    },
  );
};

export default experimentRoutes;
