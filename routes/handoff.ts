import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { staffRole } from '../db/courses.js';
import { createHandoff, takeDashboardHandoff, takeHandoff } from '../db/handoffs.js';
import { IdentityRefusal, linkIdentity, type Identity } from '../db/oidc.js';
import { findUserById, mergeUsers, publicUser } from '../db/users.js';
import { HttpError } from '../lib/errors.js';
import { startSession } from '../plugins/auth.js';
import { publicOriginOf } from '../lib/config.js';
import { DashboardHandoffBody, DashboardHandoffReply, HandoffBody, HandoffReply } from '../schemas/auth.js';
import { errorReplies } from '../schemas/common.js';

/**
 * Hand-off codes (db/handoffs.ts): a login completed on Folio's own pages reaches the book page as
 * `#folio-handoff=CODE`; the page's client exchanges the code here for a session, as at a password login. In cookie
 * mode the reply carries a fresh code (`fallbackCode`) the client exchanges in token mode when the browser did not keep
 * the cookie, as it logs in again with the password after a login. A dashboard code (an LTI launch of the dashboard by
 * course staff) reaches Folio's own dashboard the same way and is exchanged there for its first-party cookie session.
 */
const handoffRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db, books } = app;
  const publicOrigin = publicOriginOf(app.config);

  app.post(
    '/api/auth/handoff',
    {
      config: { access: 'public' },
      schema: {
        tags: ['auth'],
        summary: "Log in with a hand-off code (once, within 60 s, from a page of the code's book); work saved anonymously in this session moves to the account",
        body: HandoffBody,
        response: { 200: HandoffReply, ...errorReplies(400, 403, 409, 415, 429, 503) },
      },
    },
    async (request, reply) => {
      const { book, code, mode = 'cookie' } = request.body;
      await app.limitHandoffAttempt(request);
      const origin = request.headers.origin;
      // A code is redeemed by a page of its book only (with or without a cookie; the CSRF check has run already).
      if (typeof origin !== 'string' || !books.allows(origin, book)) {
        request.log.warn({ event: 'handoff_refused', reason: 'origin', book, origin, client: request.ip }, 'hand-off code refused');
        throw new HttpError(403, 'origin_not_allowed', `a hand-off code of book "${book}" is redeemed by a page of that book only: origin ${origin ?? '(none)'} is not one of its origins`);
      }
      const taken = await takeHandoff(db, code, book);
      const user = taken === undefined ? undefined : await findUserById(db, taken.userId);
      if (!user) {
        request.log.warn({ event: 'handoff_refused', reason: 'code', book, client: request.ip }, 'hand-off code refused');
        throw new HttpError(400, 'invalid_handoff', 'this sign-in link is unknown, used or expired: start the login again (from your course or the sign-in page)');
      }
      const previous = request.user;
      // A link to an identity provider completes here, in the session of the account that started it: a page of
      // someone else (who was sent the provider's link) cannot attach their provider account to it.
      if (taken?.link) {
        const identity = JSON.parse(taken.link) as Identity;
        if (previous?.id !== user.id) {
          request.log.warn({ event: 'oidc_link_refused', reason: 'session', provider: identity.providerId, userId: user.id, client: request.ip }, 'identity link refused');
          throw new HttpError(403, 'link_refused', 'this link to an identity provider was started by another account: log in to your own account and link it from there');
        }
        try {
          await linkIdentity(db, identity, user.id);
        } catch (err) {
          if (err instanceof IdentityRefusal) throw new HttpError(409, 'linked_elsewhere', err.message);
          throw err;
        }
        request.log.info({ event: 'oidc_linked', provider: identity.providerId, userId: user.id, book, client: request.ip }, 'identity provider linked');
      }
      if (previous?.anonymous && previous.id !== user.id) {
        await mergeUsers(db, previous.id, user.id);
        // The work done before an LMS launch now counts for its gradebook.
        await app.ltiScores.workChanged({ userId: user.id, bookId: book });
      }
      const token = await startSession(request, reply, user, mode);
      request.log.info({ event: 'handoff_redeemed', userId: user.id, username: user.username, book, mode, merged: previous?.anonymous === true, client: request.ip }, 'logged in with a hand-off code');
      if (token) return { user: publicUser(user), token };
      // The code is used up, and whether the browser keeps the cookie is only known after this reply (a login would try
      // again with the password in token mode): a new code lets the client do the same.
      return { user: publicUser(user), fallbackCode: await createHandoff(db, user.id, book) };
    },
  );

  app.post(
    '/api/auth/handoff/dashboard',
    {
      config: { access: 'public' },
      schema: {
        tags: ['auth'],
        summary: "Log in on the dashboard with a dashboard's hand-off code (an LTI launch of the dashboard by course staff): once, within 5 minutes, from Folio's own origin; starts the dashboard's cookie session",
        description:
          "The dashboard's page sends the code it found after #folio-handoff= in its URL. Refused: from any other origin (403 origin_not_allowed); a code unknown, used, expired or a book page's (400 invalid_handoff); an account no longer on the course's staff (403 not_course_staff). The reply names the course the dashboard then shows.",
        body: DashboardHandoffBody,
        response: { 200: DashboardHandoffReply, ...errorReplies(400, 403, 415, 429, 503) },
      },
    },
    async (request, reply) => {
      await app.limitHandoffAttempt(request);
      const origin = request.headers.origin;
      if (origin !== publicOrigin && origin !== `${request.protocol}://${request.host}`) {
        request.log.warn({ event: 'handoff_refused', reason: 'origin', dashboard: true, origin, client: request.ip }, 'dashboard hand-off code refused');
        throw new HttpError(403, 'origin_not_allowed', `a dashboard's hand-off code is redeemed by Folio's dashboard only (${publicOrigin}/dashboard/): origin ${origin ?? '(none)'} is not it`);
      }
      const taken = await takeDashboardHandoff(db, request.body.code);
      const user = taken === undefined ? undefined : await findUserById(db, taken.userId);
      if (!taken || !user) {
        request.log.warn({ event: 'handoff_refused', reason: 'code', dashboard: true, client: request.ip }, 'dashboard hand-off code refused');
        throw new HttpError(400, 'invalid_handoff', 'this link to the dashboard is unknown, used or expired (5 minutes): open the dashboard again from your course in the LMS');
      }
      // The launch made them staff; the roster may have changed since.
      if (user.role !== 'admin' && (await staffRole(db, taken.courseId, user.id)) === undefined) {
        request.log.warn({ event: 'handoff_refused', reason: 'not_staff', dashboard: true, userId: user.id, course: taken.courseId, client: request.ip }, 'dashboard hand-off code refused');
        throw new HttpError(403, 'not_course_staff', `you no longer teach course "${taken.courseId}": the dashboard is for its instructors and teaching assistants`);
      }
      const previous = request.user;
      if (previous?.anonymous && previous.id !== user.id) await mergeUsers(db, previous.id, user.id);
      await startSession(request, reply, user, 'cookie');
      request.log.info({ event: 'handoff_redeemed', userId: user.id, username: user.username, dashboard: true, course: taken.courseId, client: request.ip }, 'logged in on the dashboard with a hand-off code');
      return { user: publicUser(user), course: taken.courseId };
    },
  );
};

export default handoffRoutes;
