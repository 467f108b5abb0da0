import Type from 'typebox';

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
    role: Type.Union([Type.Literal('student'), Type.Literal('instructor'), Type.Literal('admin')]),
    researchConsent: Type.Boolean(),
    anonymous: Type.Boolean({ description: 'true for work saved before registering' }),
  },
  { additionalProperties: false },
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
