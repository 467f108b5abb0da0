import Type from 'typebox';
import { instantPattern } from '../lib/time.js';
import { BookId, Nullable, When } from './common.js';

/** The schemas of joining a course and of a course's own settings (the roster's are in schemas/courses.ts). */

const Count = Type.Integer({ minimum: 0 });

export const CourseId = Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$', description: 'course id (slug)', examples: ['cs101-fall'] });
export const CourseParams = Type.Object({ course: CourseId });

const Title = Type.String({ minLength: 1, maxLength: 200, examples: ['Introduction to programming'] });
const Term = Type.String({ minLength: 1, maxLength: 100, examples: ['Fall 2026'] });
/** What someone is in a course: a student, or its staff. */
const CourseRole = (description: string) => Type.Union([Type.Literal('student'), Type.Literal('instructor'), Type.Literal('ta')], { description });
const JoinCode = Type.String({ description: 'what students type to join: letters and digits, upper-case', examples: ['K7PXM3RQ2W'] });

export const JoinBody = Type.Object(
  {
    code: Type.String({
      minLength: 4,
      maxLength: 64,
      pattern: '^[A-Za-z0-9 -]+$',
      description: 'the join code as the student typed it: case, spaces and dashes do not matter',
      examples: ['k7px-m3rq-2w'],
    }),
  },
  { additionalProperties: false },
);

/** A course as a student sees it. */
export const Course = Type.Object(
  { id: CourseId, title: Type.String(), term: Nullable(Type.String()), book: BookId },
  { additionalProperties: false, description: 'A course: one class using one book' },
);

export const JoinReply = Type.Object(
  {
    course: Course,
    enrolled: Type.Boolean({ description: 'whether the caller is enrolled as a student now (false for the course\'s staff, who are never enrolled by its code)' }),
    already: Type.Boolean({ description: 'true when the caller was in the course before (enrolled, or its staff): nothing changed' }),
    as: CourseRole('what the caller is in the course'),
  },
  { additionalProperties: false, description: 'A course joined with its code' },
);

/** A course someone studies or teaches. */
export const MyCourse = Type.Object(
  {
    ...Course.properties,
    as: CourseRole('student, or their staff role'),
    open: Type.Boolean({ description: 'whether its join code is accepted' }),
    joinCode: Type.Optional(Type.String({ description: 'only for its staff' })),
  },
  { additionalProperties: false, description: 'A course the caller studies or teaches (one entry per role)' },
);

export const MyCoursesReply = Type.Object({ courses: Type.Array(MyCourse) }, { additionalProperties: false, description: 'The courses the caller studies or teaches' });

export const AllCoursesReply = Type.Object(
  {
    courses: Type.Array(
      Type.Object({ ...Course.properties, open: Type.Boolean({ description: 'whether its join code is accepted' }) }, { additionalProperties: false }),
      { description: 'every course, by id' },
    ),
  },
  { additionalProperties: false, description: 'Every course of this Folio (for admins; staff see theirs in GET /api/courses/mine)' },
);

/** A course as its staff see it: its settings, its join code, how many are in it. */
export const CourseDetail = Type.Object(
  {
    ...Course.properties,
    open: Type.Boolean({ description: 'whether its join code is accepted (staff may enrol students either way)' }),
    joinCode: JoinCode,
    startsAt: Nullable(When),
    endsAt: Nullable(When),
    createdAt: When,
    students: Type.Integer({ minimum: 0, description: 'students enrolled' }),
    instructors: Count,
    tas: Type.Integer({ minimum: 0, description: 'teaching assistants' }),
  },
  { additionalProperties: false, description: "A course with its join code and how many students and staff it has (the course's staff)" },
);

const Instant = Type.String({ pattern: instantPattern, description: 'a date (midnight UTC) or a date-time with a zone; null: no bound', examples: ['2026-09-01'] });

export const PatchCourseBody = Type.Object(
  {
    title: Type.Optional(Title),
    term: Type.Optional(Nullable(Term)),
    open: Type.Optional(Type.Boolean({ description: 'false: the join code is refused (403 course_closed)' })),
    startsAt: Type.Optional(Nullable(Instant)),
    endsAt: Type.Optional(Nullable(Instant)),
  },
  { additionalProperties: false, minProperties: 1, examples: [{ open: false }] },
);

export const JoinCodeReply = Type.Object({ joinCode: JoinCode }, { additionalProperties: false, description: "The course's new join code (the old one no longer works)" });
