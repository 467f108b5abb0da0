import Type from 'typebox';
import { BookId, Nullable } from './common.js';
import { CourseId } from './course.js';
import { CourseWindow } from './reports.js';

/**
 * GET /api/courses/:course/questions (routes/course-questions.ts): how a course's enrolled students did on every
 * question of the book, within the course's dates.
 */

export const CourseQuestionStats = Type.Object(
  {
    id: Type.String({ description: 'question id' }),
    unlisted: Type.Optional(Type.Literal(true, { description: 'the table of contents does not list it (students answered it all the same)' })),
    kind: Type.String({ description: 'from the table of contents, else the kind of its attempts' }),
    points: Nullable(Type.Number({ minimum: 0, description: 'from the table of contents (null when unlisted)' })),
    page: Nullable(Type.String({ description: 'the page that lists it; for an unlisted question the page its answers were saved on (null when none)' })),
    attempts: Type.Integer({ minimum: 0, description: 'attempts by enrolled students' }),
    students: Type.Integer({ minimum: 0, description: 'enrolled students who attempted it' }),
    correctFirstTry: Type.Integer({ minimum: 0, description: 'students whose first attempt is correct' }),
    eventuallyCorrect: Type.Integer({ minimum: 0, description: 'students with at least one correct attempt' }),
    medianAttempts: Nullable(Type.Number({ minimum: 1, description: 'the median of the attempts of the students who attempted it (null when none did)' })),
  },
  { additionalProperties: false },
);

export const CourseQuestionsReply = Type.Object(
  {
    course: CourseId,
    book: BookId,
    window: CourseWindow,
    enrolled: Type.Integer({ minimum: 0, description: 'students enrolled in the course' }),
    chapters: Type.Array(
      Type.Object(
        {
          id: Type.String({ description: 'chapter id' }),
          title: Type.String(),
          pages: Type.Array(
            Type.Object(
              { id: Type.String({ description: 'page id' }), title: Type.String(), questions: Type.Array(CourseQuestionStats, { description: 'in the table of contents\' order' }) },
              { additionalProperties: false },
            ),
            { description: 'the chapter\'s pages that list questions, in order' },
          ),
        },
        { additionalProperties: false },
      ),
      { description: 'the table of contents\' chapters that list questions, in order (empty when the book has none); a question nobody attempted has zeros' },
    ),
    unlisted: Type.Array(CourseQuestionStats, { description: 'questions the students attempted that the table of contents does not list, by id' }),
  },
  { additionalProperties: false, description: 'over the course\'s enrolled students, within its dates' },
);

export const CourseQuestionsQuery = Type.Object(
  {
    chapter: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description: 'a chapter id of the table of contents: only that chapter (its numbers over its questions\' attempts alone) and no unlisted questions; an unknown id is a 400',
        examples: ['ch1'],
      }),
    ),
    unlisted: Type.Optional(Type.Boolean({ default: false, description: 'true: only the questions the table of contents does not list (`chapters` empty); not with `chapter`' })),
  },
  { additionalProperties: false },
);
