import Type from 'typebox';
import { instantPattern } from '../lib/time.js';
import { BookId, Nullable, When } from './common.js';
import { CourseId } from './course.js';
import { Id } from './work.js';

/** The schemas of research experiments: a student's variant, and the researchers' definitions and report. */

export const ExperimentId = Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$', description: 'experiment id (slug, unique on the server)', examples: ['hint-policy'] });
export const ExperimentParams = Type.Object({ book: BookId, experiment: ExperimentId });

const VariantName = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$', description: 'a variant name', examples: ['control'] });

export const VariantQuery = Type.Object(
  { page: Type.Optional(Id('the page the student meets the experiment on (recorded with the first exposure)', 'ch1/intro')) },
  { additionalProperties: false },
);

export const VariantReply = Type.Object(
  {
    variant: VariantName,
    exposure: Type.Union([Type.Literal('recorded'), Type.Literal('none')], {
      description: '`recorded`: the student is in the experiment (assigned now or before); `none`: they take no part (not consenting to a consent-only experiment, not in its courses, or it is not running and never assigned them) and get the first variant, unrecorded',
    }),
  },
  { additionalProperties: false, description: "The student's variant of the experiment" },
);

const Instant = (description: string) => Type.String({ pattern: instantPattern, description, examples: ['2026-09-01', '2026-09-01T08:00:00Z'] });

export const Variant = Type.Object({ name: VariantName, weight: Type.Integer({ minimum: 1, maximum: 1000, description: "the variant's share is weight / sum of weights" }) }, { additionalProperties: false });

export const NewExperimentBody = Type.Object(
  {
    id: ExperimentId,
    variants: Type.Array(Variant, { minItems: 2, maxItems: 20, description: 'the first is what students outside the experiment see (the control)' }),
    courses: Type.Optional(Type.Array(CourseId, { minItems: 1, maxItems: 100, description: "only these courses' enrolled students take part (default: every student of the book)" })),
    start: Type.Optional(Instant('nobody is assigned before this time')),
    end: Type.Optional(Instant('nobody new is assigned from this time on')),
    consentOnly: Type.Optional(Type.Boolean({ description: 'only students who gave research consent take part; the others get the first variant, never recorded' })),
  },
  { additionalProperties: false },
);

const Count = Type.Integer({ minimum: 0 });

export const ExperimentSummary = Type.Object(
  {
    id: ExperimentId,
    book: BookId,
    variants: Type.Array(
      Type.Object({ name: VariantName, weight: Type.Integer(), exposed: Count, consenting: Type.Integer({ minimum: 0, description: 'of the exposed, those with research consent (the ones exports include)' }) }, { additionalProperties: false }),
    ),
    courses: Nullable(Type.Array(CourseId)),
    startsAt: Nullable(When),
    endsAt: Nullable(When),
    consentOnly: Type.Boolean(),
    stoppedAt: Nullable(When),
    status: Type.Union([Type.Literal('scheduled'), Type.Literal('running'), Type.Literal('ended'), Type.Literal('stopped')]),
    createdAt: When,
  },
  { additionalProperties: false, description: 'An experiment and the students exposed to each variant (its salt is never shown)' },
);

export const ExperimentList = Type.Object({ experiments: Type.Array(ExperimentSummary) }, { additionalProperties: false });

export const ReportQuery = Type.Object(
  { page: Type.Optional(Type.Array(Id('a page of the experiment (default: every page an exposure was recorded on)', 'ch2/hints'), { maxItems: 200 })) },
  { additionalProperties: false },
);

const Test = (name: string) =>
  Nullable(
    Type.Object(
      { test: Type.Literal(name), statistic: Type.Number(), df: Nullable(Type.Number()), p: Type.Number({ description: 'two-sided p-value' }) },
      { additionalProperties: false },
    ),
  );

export const ExperimentReport = Type.Object(
  {
    experiment: ExperimentId,
    book: BookId,
    pages: Type.Array(Type.String(), { description: "the experiment's pages the figures are about" }),
    excluded: Type.Integer({ minimum: 0, description: 'exposed students left out for want of research consent' }),
    variants: Type.Array(
      Type.Object(
        {
          variant: VariantName,
          students: Count,
          scored: Type.Integer({ minimum: 0, description: 'students with a marked or scored answer on the pages' }),
          meanScore: Nullable(Type.Number({ description: "the mean of the students' mean scores (latest attempt per question: its score, else 1 if correct, 0 if not)" })),
          completed: Type.Integer({ minimum: 0, description: 'students who marked every one of the pages complete' }),
          completion: Nullable(Type.Number({ description: 'completed / students' })),
        },
        { additionalProperties: false },
      ),
    ),
    comparisons: Type.Array(
      Type.Object(
        {
          variant: VariantName,
          against: VariantName,
          score: Test('welch-t'),
          completion: Test('two-proportion-z'),
        },
        { additionalProperties: false },
      ),
      { description: 'each variant against the first, two-sided; null where a test cannot be computed (too few students, no variance)' },
    ),
  },
  { additionalProperties: false, description: "Per variant, the consenting students exposed, their mean score and completion on the experiment's pages, and two-sided tests of the differences" },
);
