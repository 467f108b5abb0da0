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

const param = (description: string) => Type.Optional(Type.String({ maxLength: 4096, description }));

/** A login initiation's parameters (SPEC §9; LTI 1.3 Core 5.1.1): checked by the route, which answers a page naming what is missing. */
export const LtiLoginParams = Type.Object(
  {
    iss: param("the platform's issuer"),
    login_hint: param('opaque to Folio, sent back to the platform'),
    target_link_uri: param('the page the launch is for'),
    lti_message_hint: param('opaque to Folio, sent back to the platform'),
    client_id: param('the client id the platform gave Folio (needed when it registered several)'),
    lti_deployment_id: param('the deployment the launch comes from'),
    lti_storage_target: param("the platform's frame that keeps the state and nonce (LTI Client Side postMessages): `_parent`, or a frame's name"),
  },
  { additionalProperties: true, examples: [{ iss: 'https://canvas.instructure.com', login_hint: '42', target_link_uri: 'https://book.example.edu/ch1/intro.html', client_id: '10000000000001' }] },
);

/** The platform's form_post to /lti/launch. */
export const LtiLaunchBody = Type.Object(
  {
    id_token: Type.Optional(Type.String({ maxLength: 65536, description: "the platform's signed id_token (RS256)" })),
    state: param('the state Folio sent with the login'),
    lti_storage_state: param("the state as read back from the platform's storage (the second post of a launch whose login used it)"),
    lti_storage_nonce: param("the nonce as read back from the platform's storage"),
    folio_continuation: param("what Folio's launch page was given for this state, sent back with the values it read"),
  },
  { additionalProperties: true, examples: [{ id_token: 'eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ…', state: 'q1w2e3…' }] },
);

const picks = (description: string) =>
  Type.Optional(Type.Union([Type.String({ maxLength: 300 }), Type.Array(Type.String({ maxLength: 300 }), { maxItems: 10_000 })], { description }));

/** The Deep Linking page's form, posted back to Folio: its token and what the instructor ticked. */
export const LtiDeepLinkingBody = Type.Object(
  {
    token: Type.Optional(Type.String({ maxLength: 16384, description: 'the signed token of the Deep Linking page (valid for an hour)' })),
    page: picks('the pages chosen, each BOOK:PAGE'),
    chapter: picks('the chapters chosen (all their pages), each BOOK:CHAPTER'),
    action: Type.Optional(Type.Union([Type.Literal('link'), Type.Literal('cancel')], { description: 'cancel: return nothing to the LMS (an empty list of content items)' })),
  },
  { additionalProperties: false, examples: [{ token: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9…', page: ['book:ch1/intro', 'book:ch1/lists'], chapter: 'book:ch2', action: 'link' }] },
);
