import Type, { type TSchema } from 'typebox';
import { BookId, Nullable, Role, When } from './common.js';

export const Username = Type.String({
  minLength: 3,
  maxLength: 64,
  pattern: '^[A-Za-z0-9._@+-]+$',
  description: '3-64 characters: letters, digits and . _ @ + -; unique regardless of case',
  examples: ['ada'],
});
export const Password = Type.String({ minLength: 10, maxLength: 1024, description: '10-1024 characters', examples: ['correct horse battery'] });
const Mode = Type.Union([Type.Literal('cookie'), Type.Literal('token')], {
  description: 'cookie (default): a session cookie; token: no cookie, the reply carries a bearer token',
});
const Name = Type.String({ minLength: 1, maxLength: 200 });
const Email = Type.String({ format: 'email', maxLength: 254 });

export const User = Type.Object(
  {
    id: Type.String(),
    username: Type.Union([Type.String(), Type.Null()]),
    name: Type.Union([Type.String(), Type.Null()]),
    email: Type.Union([Type.String(), Type.Null()]),
    role: Role,
    researchConsent: Type.Boolean(),
    anonymous: Type.Boolean({ description: 'true for work saved before registering' }),
  },
  { additionalProperties: false, description: 'A student, an instructor, an admin or a researcher, as the server describes them' },
);

export const RegisterBody = Type.Object(
  { username: Username, password: Password, name: Type.Optional(Name), email: Type.Optional(Email), researchConsent: Type.Optional(Type.Boolean()), mode: Type.Optional(Mode) },
  { additionalProperties: false },
);

export const LoginBody = Type.Object(
  { username: Type.String({ minLength: 1, maxLength: 64 }), password: Type.String({ minLength: 1, maxLength: 1024 }), mode: Type.Optional(Mode) },
  { additionalProperties: false },
);

export const AuthReply = Type.Object(
  { user: User, token: Type.Optional(Type.String({ description: 'only in token mode: send it as Authorization: Bearer <token>' })) },
  { additionalProperties: false },
);

export const MeReply = Type.Object({ user: User }, { additionalProperties: false });

export const PatchMeBody = Type.Object(
  {
    name: Type.Optional(Type.Union([Name, Type.Null()])),
    email: Type.Optional(Type.Union([Email, Type.Null()])),
    researchConsent: Type.Optional(Type.Boolean()),
    currentPassword: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    newPassword: Type.Optional(Password),
  },
  { additionalProperties: false, minProperties: 1 },
);

// ---- students' rights -------------------------------------------------------------------------------------------

const Book = Type.String({ description: 'the book id' });

/** Everything Folio holds about the student (GET /api/auth/me/export), every book's work included. */
export const PersonalData = Type.Object(
  {
    exportedAt: When,
    account: Type.Object(
      { ...User.properties, createdAt: When, updatedAt: When },
      { additionalProperties: false, description: 'the account as stored, without the password hash' },
    ),
    sessions: Type.Array(
      Type.Object({ kind: Type.Union([Type.Literal('cookie'), Type.Literal('token')]), createdAt: When, expiresAt: When }, { additionalProperties: false }),
      { description: 'live and expired sessions not yet removed (their keys are not shown)' },
    ),
    courses: Type.Array(
      Type.Object(
        { course: Type.String(), book: Book, title: Type.String(), term: Nullable(Type.String()), as: Type.Union([Type.Literal('student'), Type.Literal('instructor'), Type.Literal('ta')]), since: When },
        { additionalProperties: false },
      ),
      { description: 'the courses studied (enrolments) and taught (staff), one entry per role' },
    ),
    lmsAccounts: Type.Array(Type.Object({ issuer: Type.String(), subject: Type.String(), linkedAt: When }, { additionalProperties: false }), {
      description: 'the LMS accounts (LTI issuer and `sub`) that log in as this account',
    }),
    identityProviders: Type.Array(
      Type.Object(
        { provider: Type.String(), issuer: Type.String(), subject: Type.String(), email: Nullable(Type.String()), emailVerified: Type.Boolean(), linkedAt: When },
        { additionalProperties: false },
      ),
      { description: 'the identity provider accounts (OpenID Connect issuer and `sub`) that sign in as this account, with the email each gave at its last sign-in' },
    ),
    experiments: Type.Array(
      Type.Object({ experiment: Type.String(), book: Book, variant: Type.String(), page: Nullable(Type.String()), exposedAt: When }, { additionalProperties: false }),
      { description: 'the research experiments this account was assigned to: the variant, and the page and time of the first exposure' },
    ),
    programs: Type.Array(
      Type.Object(
        { book: Book, activity: Type.String(), version: Type.Integer(), language: Nullable(Type.String()), page: Nullable(Type.String()), code: Type.String(), savedAt: When },
        { additionalProperties: false },
      ),
      { description: 'every saved version of every program' },
    ),
    answers: Type.Array(
      Type.Object(
        {
          book: Book,
          question: Type.String(),
          attempt: Type.Integer(),
          kind: Type.String(),
          answer: Type.Unknown(),
          correct: Nullable(Type.Boolean()),
          score: Nullable(Type.Number()),
          page: Nullable(Type.String()),
          savedAt: When,
        },
        { additionalProperties: false },
      ),
      { description: 'every attempt at every question' },
    ),
    events: Type.Array(
      Type.Object(
        { book: Book, type: Type.String(), target: Nullable(Type.String()), page: Nullable(Type.String()), data: Type.Unknown(), clientTime: Nullable(When), serverTime: When },
        { additionalProperties: false },
      ),
      { description: 'every research event' },
    ),
    positions: Type.Array(Type.Object({ book: Book, page: Type.String(), scroll: Nullable(Type.Number()), updatedAt: When }, { additionalProperties: false })),
    completions: Type.Array(Type.Object({ book: Book, page: Type.String(), completedAt: When }, { additionalProperties: false })),
  },
  { additionalProperties: false, description: 'Everything Folio holds about the student (GET /api/auth/me/export), of every book. Times are ISO 8601' },
);

/** The reply of GET /api/auth/me/export: a JSON download, streamed (so typed for the docs only, not for the handler). */
export const PersonalDataReply: { description: string; content: Record<string, { schema: TSchema }> } = {
  description: 'Everything Folio holds about you, as one JSON document (a download: Content-Disposition: attachment)',
  content: { 'application/json': { schema: PersonalData } },
};

export const DeleteMeBody = Type.Object(
  {
    currentPassword: Type.Optional(
      Type.String({ minLength: 1, maxLength: 1024, description: 'required for an account; an anonymous user (work saved without registering) has none' }),
    ),
  },
  { additionalProperties: false },
);

// ---- set-password links (routes/password-links.ts) ------------------------------------------------------------------

export const PasswordLinkBody = Type.Object(
  {
    token: Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_-]+$', description: 'the token of the link (after #token=)' }),
    password: Password,
  },
  { additionalProperties: false },
);

// ---- hand-off codes (routes/handoff.ts) -----------------------------------------------------------------------------

export const HandoffBody = Type.Object(
  {
    book: { ...BookId, description: 'the book the page belongs to: its origin must be one of the book\'s' },
    code: Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_-]+$', description: 'the hand-off code (after #folio-handoff= in the page\'s URL)' }),
    mode: Type.Optional(Mode),
  },
  { additionalProperties: false },
);

export const DashboardHandoffBody = Type.Object(
  { code: Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_-]+$', description: "the dashboard's hand-off code (after #folio-handoff= in the dashboard's URL)" }) },
  { additionalProperties: false },
);

export const DashboardHandoffReply = Type.Object(
  {
    user: User,
    course: Type.String({ description: 'the course the code opens (the dashboard shows #/courses/ID)', examples: ['cs101'] }),
  },
  { additionalProperties: false },
);

export const HandoffReply = Type.Object(
  {
    ...AuthReply.properties,
    fallbackCode: Type.Optional(
      Type.String({
        description:
          'cookie mode only: a new hand-off code (the same user and book, once, 60 s) for a browser that did not keep the cookie, to exchange in token mode (the code itself was used up)',
      }),
    ),
  },
  { additionalProperties: false },
);
