import Type from 'typebox';
import { User } from './auth.js';
import { BookId, Nullable, When } from './common.js';
import { Id, LatestAnswer, Program } from './work.js';
import { csvFormulaModes, type CsvFormulas } from '../lib/csv.js';
import { instantPattern } from '../lib/time.js';
import { exportFormats, exportKinds, type ExportFormat, type ExportKind } from './export-kinds.js';

export { exportFormats, exportKinds, type ExportFormat, type ExportKind };

const Count = Type.Integer({ minimum: 0 });

export const StudentParams = Type.Object({
  book: BookId,
  user: Type.String({ pattern: '^[A-Za-z0-9-]{1,64}$', description: 'a user id (as listed by progress)', examples: ['3f1c2a9e-5b7d-4c1e-9a2b-8d6e4f0a1b2c'] }),
});
export const SummaryParams = Type.Object({ book: BookId, question: Id('question id', 'q1') });

/** Who a student is, as instructors see them: the user (schemas/auth.ts) without their research consent. */
export const Student = Type.Omit(User, ['researchConsent'], { additionalProperties: false, description: 'a user, without their research consent' });

export const ProgressReply = Type.Object(
  {
    book: BookId,
    students: Type.Array(
      Type.Object(
        {
          user: Student,
          pagesCompleted: Count,
          questionsAttempted: Count,
          questionsCorrect: Type.Integer({ minimum: 0, description: 'questions with at least one correct attempt' }),
          activitiesSaved: Type.Integer({ minimum: 0, description: 'activities with at least one saved program' }),
          lastPage: Nullable(Type.String({ description: 'where the student left off' })),
          lastActivity: Nullable(When),
        },
        { additionalProperties: false },
      ),
      { description: 'students (role student, anonymous ones included) with any work in the book, by user id' },
    ),
    next: Nullable(Type.String({ description: 'pass as `after` for the next page; null on the last page' })),
  },
  { additionalProperties: false },
);

export const StudentWorkReply = Type.Object(
  {
    user: Student,
    programs: Type.Array(Program, { description: 'the latest version per activity' }),
    answers: Type.Array(LatestAnswer, { description: 'the latest attempt per question' }),
    completed: Type.Array(Type.Object({ page: Type.String(), completedAt: When }, { additionalProperties: false })),
    position: Nullable(Type.Object({ page: Type.String(), scroll: Nullable(Type.Number()), updatedAt: When }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);

export const QuestionSummaryReply = Type.Object(
  {
    question: Type.String(),
    kind: Nullable(Type.String({ description: 'the kind of the most recent attempt' })),
    attempts: Count,
    students: Count,
    studentsCorrect: Type.Integer({ minimum: 0, description: 'students with at least one correct attempt' }),
    correctRate: Nullable(Type.Number({ minimum: 0, maximum: 1, description: 'correct attempts / attempts marked correct or not' })),
    distribution: Nullable(
      Type.Array(Type.Object({ choice: Type.String(), count: Count }, { additionalProperties: false }), {
        description: 'choice kinds only: how often each choice is in the students\' latest answers, most chosen first',
      }),
    ),
  },
  { additionalProperties: false },
);

/** A date (midnight UTC) or a date-time with a zone, in server time. */
const Instant = (description: string) =>
  Type.String({
    pattern: instantPattern,
    description,
    examples: ['2026-09-01T08:00:00Z'],
  });

export const ExportQuery = Type.Object(
  {
    kind: Type.Optional(Type.Unsafe<ExportKind>({ type: 'string', enum: [...exportKinds], default: 'events', description: 'which rows' })),
    format: Type.Optional(Type.Unsafe<ExportFormat>({ type: 'string', enum: [...exportFormats], default: 'jsonl', description: 'JSON Lines, CSV (RFC 4180) or xAPI 1.0.3 statements' })),
    since: Type.Optional(Instant('only rows at or after this server time (ISO 8601 date or date-time with a zone)')),
    until: Type.Optional(Instant('only rows before this server time; default and at most: now. Pass an export\'s `until` as the next `since`')),
    identify: Type.Optional(Type.Boolean({ default: false, description: 'admins only, and logged: add user ids, usernames, names and emails' })),
    csvFormulas: Type.Optional(
      Type.Unsafe<CsvFormulas>({
        type: 'string',
        enum: [...csvFormulaModes],
        default: 'escape',
        description:
          "csv only: escape (default) prefixes ' to text starting with = + - @ TAB or CR so spreadsheets show it instead of running it as a formula (numbers are left alone); raw writes text as stored",
      }),
    ),
  },
  { additionalProperties: false },
);

/** The export's reply: a stream, documented by content type. */
export const ExportReply = {
  description:
    'The rows of consenting users, oldest first. jsonl: a first line {"meta": {…}} then one JSON object per row; csv: a header row then one record per row; ' +
    'xapi: one statement per line. Headers X-Folio-Export-Users, X-Folio-Excluded-Users (users left out for want of research consent) and X-Folio-Export-Until. ' +
    'The trailer X-Folio-Skipped (after the body, chunked encoding) counts stored rows that could not be written and were left out (0 normally); JSON Lines then ' +
    'also ends with a line {"skipped": {"rows": N, …}}. A reply cut short (the database failed midway) ends without the last chunk: the client sees an incomplete body, never a short one that looks whole.',
  content: {
    'application/x-ndjson': { schema: { type: 'string' } },
    'text/csv': { schema: { type: 'string' } },
  },
};
