import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { createDashboardHandoff, createHandoff } from '../db/handoffs.js';
import { findPlatform, listPlatforms, type LtiPlatform } from '../db/lti.js';
import { findLtiState, ltiCourse, ltiUser, placeInCourse, startLtiLogin, takeLtiState } from '../db/lti-launch.js';
import { publicOriginOf } from '../lib/config.js';
import { escapeHtml, prefersJson } from '../lib/html.js';
import { dashboardLaunchPage, handoffTarget, LtiRefusal, verifyLaunch } from '../lib/lti-launch.js';
import { dashboardPath } from '../lib/oidc.js';
import { jwks } from '../lib/lti-keys.js';
import { LaunchRosterSyncs } from '../lib/lti-roster.js';
import { continuationFor, maxStorageTargetLength, storageFields, storageLaunchPage, storageLoginPage, storageScriptSource, storedStateRefusal } from '../lib/lti-storage.js';
import { bodyLimit, framedPagePolicy } from '../plugins/security.js';
import { LtiJwks, LtiLaunchBody, LtiLoginParams } from '../schemas/lti.js';
import { showDeepLinkingPicker } from './lti-deep-linking.js';

/** How long platforms and proxies may keep the JWKS: short, so a rotated key is seen within minutes. */
const jwksMaxAgeSeconds = 300;

/** A refused login or launch: 400, a small page (or JSON) saying what was wrong, logged with the platform. */
function refuse(request: FastifyRequest, reply: FastifyReply, event: string, refusal: LtiRefusal, platform: { issuer?: string | undefined; clientId?: string | undefined }) {
  request.log.warn({ event, reason: refusal.reason, issuer: platform.issuer, clientId: platform.clientId, client: request.ip }, refusal.message);
  reply.code(400).header('cache-control', 'no-store');
  if (prefersJson(request)) return reply.send({ statusCode: 400, error: `lti_${refusal.reason}`, message: refusal.message });
  return reply
    .type('text/html; charset=utf-8')
    .send(
      `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Folio: launch refused</title></head>` +
        `<body><h1>This launch from your course was refused</h1><p>${escapeHtml(refusal.message)}</p>` +
        `<p>Go back to your course and open the link again; if this keeps happening, tell your instructor or the LMS administrator.</p></body></html>\n`,
    );
}

/** The parameters of a request (the query of a GET, the form of a POST), as strings. */
const paramsOf = (request: FastifyRequest): Record<string, unknown> => ({ ...(request.query as object), ...(request.body as object | undefined) });
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/**
 * LTI 1.3 (SPEC §9): Folio's public keys, the third-party initiated login and the launch. The state of the OIDC round
 * trip is bound server-side (db/lti-launch.ts), not in a cookie, so a launch works with every third-party cookie
 * blocked; the launch logs the person in on the book page with a hand-off code (db/handoffs.ts) in the fragment.
 *
 * Neither route is under /api, so the CSRF Origin check and the refusal of cross-site navigations (plugins/security.ts,
 * which guard the API's cookie-authenticated writes) do not apply, as they must not: the platform's form_post comes
 * from the LMS's origin by design. The launch authenticates by the platform's signed id_token and the single-use
 * state; it never reads or sets a session cookie. A link whose target is Folio's dashboard opens it for course staff
 * with a single-use dashboard code: at once when the launch is a whole window, else from a page in the LMS's frame
 * whose link opens a window of its own (the dashboard's session is a first-party cookie, which no frame can hold). When the platform offers its storage (`lti_storage_target`), the login
 * and the launch answer small pages that keep the state there and read it back (lib/lti-storage.ts) instead of 302s.
 */
const ltiRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db, books, config } = app;
  const dashboardUrl = `${publicOriginOf(config)}${dashboardPath}`;
  const rosterSyncs = new LaunchRosterSyncs(db, app.secret);
  app.addHook('onClose', () => rosterSyncs.settled());
  // The platform's form_post (and a POSTed login initiation) is a form: parsed here only, the rest of the app stays JSON-only.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  // The refusal pages may be shown inside the LMS's iframe (they offer nothing to click): framing allowed, scripts not.
  const framed = framedPagePolicy(config);
  // The platform-storage pages change two of those headers: their one script allowed by its hash, and COOP unsafe-none,
  // or a launch in a new window would lose window.opener, the LMS's page that holds the storage. No form-action:
  // Chromium applies it to the redirect after the form too, which goes to the book's origin.
  const storagePolicy = `default-src 'none'; script-src ${storageScriptSource}; base-uri 'none'; frame-ancestors *`;
  const sendStoragePage = (reply: FastifyReply, html: string) =>
    reply
      .code(200)
      .header('content-security-policy', storagePolicy)
      .header('cross-origin-opener-policy', 'unsafe-none')
      .header('cache-control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(html);

  async function login(request: FastifyRequest, reply: FastifyReply) {
    const params = paramsOf(request);
    const issuer = str(params['iss']);
    const clientId = str(params['client_id']);
    try {
      const loginHint = str(params['login_hint']);
      const target = str(params['target_link_uri']);
      if (!issuer) throw new LtiRefusal('iss', 'the login initiation names no platform (iss)');
      if (!loginHint) throw new LtiRefusal('login_hint', 'the login initiation has no login_hint');
      if (!target) throw new LtiRefusal('target_link_uri', 'the login initiation has no target_link_uri');
      let platform: LtiPlatform | undefined;
      if (clientId) platform = await findPlatform(db, issuer, clientId);
      else {
        const candidates = (await listPlatforms(db)).filter((p) => p.issuer === issuer);
        if (candidates.length > 1) throw new LtiRefusal('client_id', `several registrations of ${issuer} exist: the platform must send client_id`);
        platform = candidates[0];
      }
      if (!platform) throw new LtiRefusal('platform', `no LTI platform ${issuer}${clientId ? ` with client id ${clientId}` : ''} is registered: an administrator adds it with "folio lti platforms add"`);
      const storageTarget = str(params['lti_storage_target']);
      if (storageTarget !== undefined && storageTarget.length > maxStorageTargetLength) {
        throw new LtiRefusal('lti_storage_target', `the lti_storage_target is longer than ${maxStorageTargetLength} characters`);
      }
      const deployment = str(params['lti_deployment_id']);
      if (deployment !== undefined && !platform.deployments.includes(deployment)) {
        throw new LtiRefusal('deployment_id', `the deployment "${deployment}" is not registered for this platform: add it with "folio lti platforms add … --deployment ID"`);
      }
      await app.limitLtiLogin(request);
      const { state, nonce } = await startLtiLogin(db, { issuer: platform.issuer, clientId: platform.clientId, targetLinkUri: target, storageTarget });
      const auth = new URL(platform.authUrl);
      const query: Record<string, string | undefined> = {
        scope: 'openid',
        response_type: 'id_token',
        response_mode: 'form_post',
        prompt: 'none',
        client_id: platform.clientId,
        redirect_uri: `${publicOriginOf(config)}/lti/launch`,
        login_hint: loginHint,
        lti_message_hint: str(params['lti_message_hint']),
        state,
        nonce,
      };
      for (const [k, v] of Object.entries(query)) if (v !== undefined) auth.searchParams.set(k, v);
      request.log.info({ event: 'lti_login', issuer: platform.issuer, clientId: platform.clientId, storageTarget, client: request.ip }, 'LTI login initiated');
      if (storageTarget !== undefined) return sendStoragePage(reply, storageLoginPage({ authUrl: auth.href, target: storageTarget, state, nonce }));
      return reply.header('cache-control', 'no-store').redirect(auth.href, 302);
    } catch (err) {
      if (err instanceof LtiRefusal) return refuse(request, reply, 'lti_login_refused', err, { issuer, clientId });
      throw err;
    }
  }

  const loginSchema = {
    tags: ['lti'],
    summary: 'LTI 1.3 third-party initiated login: redirects to the platform\'s authorization endpoint with a new single-use state and nonce',
    description:
      'The platform sends iss, login_hint, target_link_uri and optionally lti_message_hint, client_id, lti_deployment_id and lti_storage_target (as the query of a GET or the form of a POST). With lti_storage_target, the answer is instead a page (200) whose script stores the state and nonce in the platform\'s frame (lti.put_data) and then goes to the authorization endpoint. Unknown platform or missing parameter: 400, a page (or JSON when Accept prefers it) saying what was wrong.',
  };
  app.get('/lti/login', { config: { access: 'public' }, helmet: framed, schema: { ...loginSchema, querystring: LtiLoginParams } }, login);
  app.post('/lti/login', { config: { access: 'public' }, helmet: framed, schema: { ...loginSchema, body: LtiLoginParams } }, login);

  app.post(
    '/lti/launch',
    {
      config: { access: 'public' },
      helmet: framed,
      schema: {
        tags: ['lti'],
        summary: "LTI 1.3 launch: the platform's form_post of id_token and state; redirects to the book page with a hand-off code (Deep Linking: shows the page picker)",
        description:
          "When the login kept the state in the platform's storage (lti_storage_target), the first post answers a page (200) whose script reads the state and nonce back from the platform's frame (lti.get_data) and posts them here again as lti_storage_state and lti_storage_nonce, with the folio_continuation that page was given; missing or wrong values are refused (400), and the state is used up either way. Then: verifies the state (single use, 5 minutes) and the id_token (RS256 against the platform's JWKS; iss, aud, azp, exp/iat with 60 s skew, nonce, deployment_id, version 1.3.0, LtiResourceLinkRequest, target_link_uri on an allowed origin of a book, or Folio's dashboard), finds or creates the user and the course, maps the roles, and redirects (302) to the target_link_uri with #folio-handoff=CODE. A target_link_uri of Folio's dashboard (its public origin and /dashboard/; the course's book by the custom parameter book, else the only book) is for course staff (LMS roles Instructor, TeachingAssistant…; a learner is refused, 400, before any account is made): Folio makes a dashboard code (once, 5 minutes; POST /api/auth/handoff/dashboard) and, for a launch in a whole window (Sec-Fetch-Dest: document), redirects (302) to the dashboard with #folio-handoff=CODE; in the LMS's frame, it answers a page (200) whose link opens the dashboard with the code in a window of its own. An LtiDeepLinkingRequest from course staff gets the Deep Linking page instead (200, HTML: the book's table of contents to pick pages from, posted to /lti/deep-linking); from a learner, a refusal. Refusals: 400, a page (or JSON when Accept prefers it) saying what was wrong.",
        body: LtiLaunchBody,
      },
    },
    async (request, reply) => {
      const params = paramsOf(request);
      let platform: { issuer?: string | undefined; clientId?: string | undefined } = {};
      try {
        const idToken = str(params['id_token']);
        const state = str(params['state']);
        if (str(params['error'])) throw new LtiRefusal('platform_error', `the platform refused the login: ${String(params['error'])}${str(params['error_description']) ? ` (${String(params['error_description'])})` : ''}`);
        if (!state) throw new LtiRefusal('state', 'the launch has no state');
        if (!idToken) throw new LtiRefusal('id_token', 'the launch has no id_token');
        // A login kept in the platform's storage: first a page that reads it back there, which posts here again.
        const pending = params[storageFields.continuation] === undefined ? await findLtiState(db, state) : undefined;
        if (pending?.storageTarget !== undefined) {
          const registered = await findPlatform(db, pending.issuer, pending.clientId);
          if (registered) {
            request.log.info({ event: 'lti_launch_storage_read', issuer: registered.issuer, clientId: registered.clientId, client: request.ip }, 'LTI launch: reading the state from the platform\'s storage');
            return sendStoragePage(reply, storageLaunchPage({ authUrl: registered.authUrl, target: pending.storageTarget, idToken, state, nonce: pending.nonce, continuation: continuationFor(app.secret, state) }));
          }
        }
        const login = await takeLtiState(db, state);
        if (!login) throw new LtiRefusal('state', 'the launch\'s state is unknown, used or expired (more than 5 minutes): launch again from the LMS');
        platform = { issuer: login.issuer, clientId: login.clientId };
        if (login.storageTarget !== undefined) {
          const refusal = storedStateRefusal(params, { state, nonce: login.nonce }, app.secret);
          if (refusal) throw refusal;
        }
        const registered = await findPlatform(db, login.issuer, login.clientId);
        if (!registered) throw new LtiRefusal('platform', `the platform ${login.issuer} is no longer registered`);
        const launch = await verifyLaunch(idToken, registered, login.nonce, books, dashboardUrl);
        for (const warning of launch.warnings) request.log.warn({ event: 'lti_claim_ignored', issuer: registered.issuer, clientId: registered.clientId }, warning);
        if (launch.messageType === 'LtiDeepLinkingRequest') return await showDeepLinkingPicker(app, request, reply, launch, registered);
        // Students never get a dashboard session: refused before any account or course is touched.
        if (launch.dashboard && !launch.staff) throw new LtiRefusal('dashboard', "the course dashboard is for the course's instructors and teaching assistants, and your role in the LMS is not one: open the book from its own link in your course");
        if (launch.dashboard && !launch.context) throw new LtiRefusal('context', 'a link to the dashboard must be in a course (the launch names no context)');
        const { user, created } = await ltiUser(db, registered.issuer, launch.sub, { name: launch.name, email: launch.email });
        let courseId: string | undefined;
        if (launch.context) {
          courseId = (await ltiCourse(db, { issuer: registered.issuer, deploymentId: launch.deploymentId, contextId: launch.context.id, bookId: launch.book.id, title: launch.context.title, label: launch.context.label, membershipsUrl: launch.membershipsUrl })).courseId;
          if (launch.staff || launch.learner) await placeInCourse(db, courseId, user.id, launch.staff);
          if (launch.staff && launch.membershipsUrl) rosterSyncs.afterReply(reply, courseId);
        }
        if (launch.dashboard && courseId !== undefined) {
          const code = await createDashboardHandoff(db, user.id, { id: courseId, bookId: launch.book.id });
          const open = `${dashboardUrl}#folio-handoff=${code}`;
          // A whole window (Sec-Fetch-Dest: document) goes straight there; in the LMS's frame, or unknown, a link opens one.
          const topLevel = request.headers['sec-fetch-dest'] === 'document';
          request.log.info(
            { event: 'lti_launch', issuer: registered.issuer, clientId: registered.clientId, deploymentId: launch.deploymentId, userId: user.id, newUser: created, book: launch.book.id, course: courseId, staff: launch.staff ?? null, dashboard: topLevel ? 'redirect' : 'page', client: request.ip },
            'LTI launch of the dashboard',
          );
          reply.header('cache-control', 'no-store');
          if (topLevel) return reply.redirect(open, 302);
          return reply.type('text/html; charset=utf-8').send(dashboardLaunchPage(open, launch.context?.title ?? launch.context?.label ?? courseId));
        }
        await app.ltiScores.launched(launch, registered, user.id, courseId, request.log);
        const code = await createHandoff(db, user.id, launch.book.id);
        request.log.info(
          { event: 'lti_launch', issuer: registered.issuer, clientId: registered.clientId, deploymentId: launch.deploymentId, userId: user.id, newUser: created, book: launch.book.id, course: courseId, staff: launch.staff ?? null, learner: launch.learner, client: request.ip },
          'LTI launch',
        );
        return reply.header('cache-control', 'no-store').redirect(handoffTarget(launch.targetLinkUri, code), 302);
      } catch (err) {
        if (err instanceof LtiRefusal) return refuse(request, reply, 'lti_launch_refused', err, platform);
        throw err;
      }
    },
  );

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
