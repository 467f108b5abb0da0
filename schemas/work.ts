import Type, { type Static } from 'typebox';
import { BookId, Nullable, When } from './common.js';

const idPattern = '^[A-Za-z0-9._:/-]{1,128}$';
/** Activity, question and page ids: 1-128 characters of [A-Za-z0-9._:/-]. */
export const Id = (description: string, example: string) => Type.String({ pattern: idPattern, minLength: 1, maxLength: 128, description, examples: [example] });
const Page = Id('page id', 'ch1/intro');

export const ActivityParams = Type.Object({ book: BookId, activity: Id('activity id', 'ac1-2') });
export const QuestionParams = Type.Object({ book: BookId, question: Id('question id', 'q1') });

/** 512 KiB: the limit on a program's code, in bytes (checked after parsing too, since maxLength counts characters). */
export const maxCodeBytes = 512 * 1024;
/** 16 KiB: the limit on one event's data, as JSON. */
export const maxEventDataBytes = 16 * 1024;
/** How deep arrays and objects may nest in an event's data (checked without recursion: lib/json-depth.ts). */
export const maxEventDataDepth = 32;
/** The largest version, attempt or count PostgreSQL's INTEGER holds (SQLite's holds more: both store what the API accepts). */
export const maxInt32 = 2 ** 31 - 1;
/** Client times Folio accepts: from 2000-01-01 to 2100-01-01 (UTC), in ms since the epoch. */
export const clientTimeRange = { minimum: Date.UTC(2000, 0, 1), maximum: Date.UTC(2100, 0, 1) };

export const ProgramBody = Type.Object(
  {
    code: Type.String({ maxLength: maxCodeBytes, description: 'at most 512 KiB', examples: ['print("hello")'] }),
    language: Type.Optional(Type.String({ minLength: 1, maxLength: 32, examples: ['python'] })),
    page: Type.Optional(Page),
  },
  { additionalProperties: false },
);
export const Saved = Type.Object({ version: Type.Integer({ examples: [3] }), savedAt: When }, { additionalProperties: false, description: 'A program saved: its version' });

export const Program = Type.Object(
  { activity: Type.String(), version: Type.Integer(), code: Type.String(), language: Nullable(Type.String()), page: Nullable(Type.String()), savedAt: When },
  { additionalProperties: false, description: 'A saved version of a program' },
);
export const HistoryQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    before: Type.Optional(Type.Integer({ minimum: 1, maximum: maxInt32, description: 'only versions older than this one (the `next` of the previous page)' })),
  },
  { additionalProperties: false },
);
export const History = Type.Object(
  { versions: Type.Array(Program), next: Nullable(Type.Integer({ description: 'pass as `before` for the next page; null at the end' })) },
  { additionalProperties: false, description: 'A page of saved versions of a program, newest first' },
);

const ChoiceId = Type.String({ minLength: 1, maxLength: 128 });
/** The answer of each kind of question, checked against its own schema. */
export const answerKinds = {
  mchoice: Type.Array(ChoiceId, { minItems: 0, maxItems: 100, description: 'the chosen choice ids' }),
  fitb: Type.Array(Type.String({ maxLength: 4096 }), { maxItems: 100, description: 'one string per blank' }),
  parsons: Type.Array(Type.Object({ block: ChoiceId, indent: Type.Integer({ minimum: 0, maximum: 20 }) }, { additionalProperties: false }), {
    maxItems: 500,
    description: 'the blocks in the order placed, with their indentation',
  }),
  dragndrop: Type.Array(Type.Object({ source: ChoiceId, target: ChoiceId }, { additionalProperties: false }), { maxItems: 200, description: 'pairs dropped' }),
  clickablearea: Type.Array(Type.Integer({ minimum: 0, maximum: 100000 }), { maxItems: 1000, description: 'indexes of the selected areas' }),
  shortanswer: Type.String({ maxLength: 65536, description: 'the text, at most 64 KiB' }),
  unittest: Type.Object(
    { passed: Type.Integer({ minimum: 0, maximum: 1_000_000 }), failed: Type.Integer({ minimum: 0, maximum: 1_000_000 }), output: Type.Optional(Type.String({ maxLength: 65536 })) },
    { additionalProperties: false },
  ),
  poll: ChoiceId,
  codelens: Type.Object({ answer: Type.String({ maxLength: 4096 }), step: Type.Integer({ minimum: 0, maximum: 1_000_000 }) }, { additionalProperties: false }),
};
export type AnswerKind = keyof typeof answerKinds;

const answerVariants = Object.entries(answerKinds).map(([kind, answer]) =>
  Type.Object(
    {
      kind: Type.Literal(kind),
      answer,
      correct: Type.Optional(Type.Boolean()),
      score: Type.Optional(Type.Number({ minimum: -1e9, maximum: 1e9 })),
      page: Type.Optional(Page),
    },
    { additionalProperties: false },
  ),
);

/** A discriminated union on `kind` (AJV's discriminator), so a wrong shape is reported against that kind's schema. */
export const AnswerBody = Type.Unsafe<{ kind: AnswerKind; answer: Static<(typeof answerKinds)[AnswerKind]>; correct?: boolean; score?: number; page?: string }>({
  type: 'object',
  required: ['kind', 'answer'],
  discriminator: { propertyName: 'kind' },
  oneOf: answerVariants,
  examples: [{ kind: 'mchoice', answer: ['b'], correct: true, page: 'ch1/intro' }],
});

export const Attempted = Type.Object({ attempt: Type.Integer({ examples: [2] }), savedAt: When }, { additionalProperties: false, description: 'An answer saved: its attempt number' });

export const Answer = Type.Object(
  {
    question: Type.String(),
    attempt: Type.Integer(),
    kind: Type.String(),
    answer: Type.Unknown(),
    correct: Nullable(Type.Boolean()),
    score: Nullable(Type.Number()),
    page: Nullable(Type.String()),
    savedAt: When,
  },
  { additionalProperties: false, description: 'An attempt at a question' },
);
export const LatestAnswer = Type.Object({ latest: Answer, attempts: Type.Integer() }, { additionalProperties: false });

export const StateQuery = Type.Object({ page: Page }, { additionalProperties: false });
/** What a page's state tells the client of each experiment of the book (schemas/work.ts PageState). */
export const StateExperiments = Type.Record(
  Type.String(),
  Type.Object(
    {
      variant: Type.String(),
      exposure: Type.Union([Type.Literal('recorded'), Type.Literal('pending'), Type.Literal('none')], {
        description: '`recorded`: assigned; `pending`: this is the variant the first `variant()` call assigns and records; `none`: the first variant, never recorded',
      }),
    },
    { additionalProperties: false },
  ),
  { description: "the book's experiments (only when it has any): the student's variant of each, so that the client asks only at a first exposure" },
);

export const PageState = Type.Object(
  {
    programs: Type.Record(Type.String(), Program),
    answers: Type.Record(Type.String(), LatestAnswer),
    completedAt: Type.Union([When, Type.Null()], { description: 'when the student marked this page complete, else null' }),
    experiments: Type.Optional(StateExperiments),
  },
  { additionalProperties: false },
);

export const PositionBody = Type.Object(
  { page: Page, scroll: Type.Optional(Type.Number({ minimum: 0, maximum: 1e9, description: 'how far down the page, as the book likes (e.g. pixels or 0-1)' })) },
  { additionalProperties: false },
);
export const Position = Type.Object({ page: Type.String(), scroll: Nullable(Type.Number()), updatedAt: When }, { additionalProperties: false, description: 'Where the student left off in the book' });

export const CompleteBody = Type.Object({ page: Page, complete: Type.Boolean() }, { additionalProperties: false });
export const Completion = Type.Object({ page: Type.String(), complete: Type.Boolean() }, { additionalProperties: false, description: 'A page marked complete or not' });
export const Progress = Type.Object(
  { completed: Type.Array(Type.Object({ page: Type.String(), completedAt: When }, { additionalProperties: false })) },
  { additionalProperties: false, description: 'The pages the student marked complete' },
);

export const EventsBody = Type.Object(
  {
    events: Type.Array(
      Type.Object(
        {
          type: Type.String({ pattern: '^[A-Za-z0-9._:/-]{1,64}$', description: 'what happened, e.g. run, hint, video:play' }),
          target: Type.Optional(Id('what it happened to', 'ac1')),
          page: Type.Optional(Page),
          data: Type.Optional(Type.Unknown({ description: `any JSON, at most 16 KiB, nesting at most ${maxEventDataDepth} levels of arrays and objects` })),
          clientTime: Type.Optional(
            Type.Union([
              Type.Integer({ ...clientTimeRange, description: 'ms since the epoch, from 2000-01-01 to 2100-01-01' }),
              Type.String({ format: 'date-time', description: 'ISO 8601 date-time with a zone, from 2000-01-01 to 2100-01-01' }),
            ]),
          ),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 500 },
    ),
  },
  { additionalProperties: false },
);
export const Accepted = Type.Object({ accepted: Type.Integer() }, { additionalProperties: false, description: 'Events stored: how many' });
