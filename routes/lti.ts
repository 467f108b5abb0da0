import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { jwks } from '../lib/lti-keys.js';
import { LtiJwks } from '../schemas/lti.js';

/** How long platforms and proxies may keep the JWKS: short, so a rotated key is seen within minutes. */
const jwksMaxAgeSeconds = 300;

/** LTI 1.3 (SPEC §9): so far Folio's public keys; the login and launch come later. */
const ltiRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/lti/jwks',
    {
      config: { access: 'public' },
      schema: {
        tags: ['lti'],
        summary: "Folio's public keys as an LTI tool (JWKS, RS256)",
        description:
          'The keys that verify what Folio signs for LMS platforms (client assertions, deep linking responses): the signing key, and a key retired by "folio lti keys rotate" for 65 minutes after (1 hour of token life and 5 minutes of clock skew). Cacheable for 5 minutes.',
        response: { 200: LtiJwks },
      },
    },
    async (_request, reply) => {
      const body = await jwks(app.db, app.secret);
      return reply.header('cache-control', `public, max-age=${jwksMaxAgeSeconds}`).send(body);
    },
  );
};

export default ltiRoutes;
