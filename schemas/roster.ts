import Type from 'typebox';
import { enrolmentSources } from '../db/schema.js';
import { Username } from './auth.js';
import { CourseId } from './course.js';
import { When, Nullable } from './common.js';

/** A course's roster: `/api/courses/:course/roster` (routes/roster.ts). */

const UserId = Type.String({ pattern: '^[A-Za-z0-9-]{1,64}$', description: 'a user id (as the roster lists it)', examples: ['3f1c2a9e-5b7d-4c1e-9a2b-8d6e4f0a1b2c'] });

export const RosterStudentParams = Type.Object({ course: CourseId, user: UserId });

export const RosterQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 100, description: 'students per page' }),
    after: Type.Optional(Type.String({ minLength: 1, maxLength: 700, description: 'the `next` cursor of the previous page' })),
  },
  { additionalProperties: false },
);

export const RosterStudent = Type.Object(
  {
    id: Type.String(),
    username: Nullable(Type.String()),
    name: Nullable(Type.String()),
    email: Nullable(Type.String()),
    via: Type.Enum(enrolmentSources, { description: 'how the student was enrolled: join code, by staff, from a roster file, an LMS launch, or the migration from the instructor role' }),
    enrolledAt: When,
  },
  { additionalProperties: false },
);

export const RosterReply = Type.Object(
  {
    course: CourseId,
    students: Type.Array(RosterStudent, { description: 'enrolled students, in a stable order (by user id)' }),
    next: Type.Union([Type.String(), Type.Null()], { description: 'pass as ?after= for the next page; null on the last page' }),
  },
  { additionalProperties: false },
);

/** The most a roster CSV may hold, in characters (the JSON body's limit is 1 MiB anyway). */
export const rosterCsvMaxLength = 1_000_000;

export const RosterBody = Type.Union(
  [
    Type.Object({ usernames: Type.Array(Username, { minItems: 1, maxItems: 5000, description: 'existing accounts: all or none are enrolled' }) }, { additionalProperties: false }),
    Type.Object(
      {
        csv: Type.String({
          minLength: 1,
          maxLength: rosterCsvMaxLength,
          description: 'a roster file: the header username,name,email (name and email optional), then one student a line; new usernames become accounts with a set-password link',
          examples: ['username,name,email\nada,Ada Lovelace,ada@example.edu\n'],
        }),
      },
      { additionalProperties: false },
    ),
  ],
  { description: 'usernames of existing accounts, or a roster CSV' },
);

export const RosterChangeReply = Type.Object(
  {
    enrolled: Type.Integer({ minimum: 0, description: 'students enrolled now' }),
    alreadyEnrolled: Type.Integer({ minimum: 0, description: 'students who already were' }),
    created: Type.Array(
      Type.Object(
        {
          username: Type.String(),
          link: Type.String({ description: 'the set-password link to send to the student: it works once, for FOLIO_PASSWORD_LINK_DAYS days' }),
        },
        { additionalProperties: false },
      ),
      { description: 'accounts the CSV made (never for usernames)' },
    ),
  },
  { additionalProperties: false },
);
