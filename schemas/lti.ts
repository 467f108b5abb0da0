import Type from 'typebox';

/** One of Folio's public keys as an LTI tool (RFC 7517 JWK). */
export const LtiPublicJwk = Type.Object(
  {
    kty: Type.Literal('RSA'),
    n: Type.String({ description: 'RSA modulus (base64url)' }),
    e: Type.String({ description: 'RSA public exponent (base64url)' }),
    kid: Type.String({ description: 'key id: the `kid` header of what Folio signs with it' }),
    alg: Type.Literal('RS256'),
    use: Type.Literal('sig'),
  },
  { additionalProperties: false },
);

export const LtiJwks = Type.Object(
  {
    keys: Type.Array(LtiPublicJwk, {
      description: 'the signing key first, then keys retired less than 65 minutes ago (what Folio signed with them may still be checked)',
    }),
  },
  { additionalProperties: false },
);
