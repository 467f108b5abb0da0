import Type from 'typebox';
import { BookId } from './common.js';

/** A provider's id (as a book id). */
export const ProviderId = Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$', description: "the provider's id, as `folio auth providers add` named it", examples: ['university'] });

export const ProviderParams = Type.Object({ provider: ProviderId });

export const ProvidersReply = Type.Array(
  Type.Object({ id: ProviderId, title: Type.String({ description: 'what the sign-in button says', examples: ['University login'] }) }, { additionalProperties: false }),
  { description: 'every identity provider, by id' },
);

const ReturnUrl = Type.String({ minLength: 1, maxLength: 2048, description: 'the book page to come back to: an http(s) URL on an allowed origin of the book', examples: ['https://books.example.edu/ch1/intro.html'] });

export const OidcStartQuery = Type.Object(
  {
    book: Type.Optional({ ...BookId, description: "the book whose page starts the sign-in; without it, a sign-in on Folio's dashboard" }),
    return: Type.String({
      minLength: 1,
      maxLength: 2048,
      description: "the page to come back to: with `book`, an http(s) URL on an allowed origin of the book; without, Folio's dashboard (its public origin and /dashboard/, the screen in the fragment kept)",
      examples: ['https://books.example.edu/ch1/intro.html', 'https://folio.example.edu/dashboard/#/courses/cs101'],
    }),
  },
  { additionalProperties: false },
);

export const OidcLinkBody = Type.Object(
  {
    book: { ...BookId, description: 'the book whose page starts the link' },
    return: ReturnUrl,
  },
  { additionalProperties: false },
);

export const OidcLinkReply = Type.Object(
  { url: Type.String({ description: "the identity provider's authorization URL to open (in a popup, or the whole page): single use, 10 minutes" }) },
  { additionalProperties: false },
);

/** The callback's parameters as the provider sends them (checked by openid-client). */
export const OidcCallbackQuery = Type.Object(
  {
    state: Type.Optional(Type.String({ maxLength: 4096 })),
    code: Type.Optional(Type.String({ maxLength: 4096 })),
    iss: Type.Optional(Type.String({ maxLength: 4096 })),
    error: Type.Optional(Type.String({ maxLength: 4096 })),
    error_description: Type.Optional(Type.String({ maxLength: 4096 })),
  },
  { additionalProperties: true },
);

export const IdentitiesReply = Type.Array(
  Type.Object(
    {
      provider: ProviderId,
      email: Type.Optional(Type.String({ description: 'the email the provider gave at the last sign-in' })),
      emailVerified: Type.Boolean({ description: 'whether the provider said it checked that email' }),
      linkedAt: Type.String({ format: 'date-time' }),
    },
    { additionalProperties: false },
  ),
  { description: "the identity providers linked to the caller's account" },
);
