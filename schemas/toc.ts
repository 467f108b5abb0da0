import Type, { type Static } from 'typebox';
import { BookId } from './common.js';
import { answerKinds, Id } from './work.js';

const Title = Type.String({ minLength: 1, maxLength: 500 });
/** A question's kind: one of the kinds of answer Folio stores. */
const QuestionKind = Type.Enum(Object.keys(answerKinds) as [keyof typeof answerKinds], { description: 'the kind of its answers, as the book saves them' });

export const TocQuestion = Type.Object(
  {
    id: Id('question id, as the book saves its answers', 'q1-1'),
    kind: QuestionKind,
    points: Type.Number({ minimum: 0, maximum: 1_000_000, description: 'what a correct answer earns' }),
  },
  { additionalProperties: true },
);
export const TocActivity = Type.Object({ id: Id('activity id, as the book saves its programs', 'ac1-1') }, { additionalProperties: true });
export const TocPage = Type.Object(
  {
    id: Id("page id, as the book's `page` values", 'ch1/intro'),
    title: Title,
    url: Type.Optional(
      Type.String({
        pattern: '^/(?!/)\\S*$',
        maxLength: 2048,
        description: "the page's path on the book's origins, when it is not /ID.html (LTI links and launches use it)",
        examples: ['/ch1/intro/'],
      }),
    ),
    questions: Type.Optional(Type.Array(TocQuestion, { maxItems: 10_000 })),
    activities: Type.Optional(Type.Array(TocActivity, { maxItems: 10_000 })),
  },
  { additionalProperties: true },
);
export const TocChapter = Type.Object(
  { id: Id('chapter id', 'ch1'), title: Title, pages: Type.Array(TocPage, { maxItems: 10_000 }) },
  { additionalProperties: true },
);

/**
 * A book's table of contents, as its build writes it and `folio books toc import` reads it: chapters → pages →
 * questions (with their kind and points) and activities. Properties it does not name are allowed (the format may
 * grow) and left out of what Folio stores.
 */
export const Toc = Type.Object(
  { chapters: Type.Array(TocChapter, { maxItems: 10_000 }) },
  {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: "Folio: a book's table of contents",
    description: 'chapters → pages (ids as the book\'s `page` values) → questions (id, kind, points) and activities (id)',
    additionalProperties: true,
  },
);
export type Toc = Static<typeof Toc>;

/** The chapters as Folio stores and serves them: the file's known properties only, lists always present. */
export const StoredChapters = Type.Array(
  Type.Object(
    {
      id: Type.String(),
      title: Type.String(),
      pages: Type.Array(
        Type.Object(
          {
            id: Type.String(),
            title: Type.String(),
            url: Type.Optional(Type.String()),
            questions: Type.Array(Type.Object({ id: Type.String(), kind: Type.String(), points: Type.Number() }, { additionalProperties: false })),
            activities: Type.Array(Type.Object({ id: Type.String() }, { additionalProperties: false })),
          },
          { additionalProperties: false },
        ),
      ),
    },
    { additionalProperties: false },
  ),
);

/** GET /api/books/:book/toc. */
export const TocReply = Type.Object(
  {
    book: BookId,
    importedAt: Type.String({ format: 'date-time', description: 'when it was imported (server time, ISO 8601)' }),
    chapters: StoredChapters,
  },
  { additionalProperties: false },
);
