import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import * as client from 'openid-client';
import { createHash, timingSafeEqual } from 'node:crypto';
import { createHandoff } from '../db/handoffs.js';
import { findProvider, identitiesOf, identityOwner, IdentityRefusal, listProviders, signInIdentity, startOidcLogin, takeOidcState, unlinkIdentity, type OidcLogin, type PendingOidcLogin } from '../db/oidc.js';
import { findUserById, mergeUsers } from '../db/users.js';
import type { BookRegistry } from '../lib/book-registry.js';
import { publicOriginOf } from '../lib/config.js';
import { servesHttps } from '../plugins/config.js';
import { HttpError } from '../lib/errors.js';
import { escapeHtml, prefersJson } from '../lib/html.js';
import { handoffTarget } from '../lib/lti-launch.js';
import { callbackUrlOf, checkDomain, claimsOf, configurationOf, dashboardPath, dashboardReturnPage, OidcError, oidcScopes } from '../lib/oidc.js';
import { requireUser, startSession } from '../plugins/auth.js';
import { errorReplies } from '../schemas/common.js';
import { IdentitiesReply, OidcCallbackQuery, OidcLinkBody, OidcLinkReply, OidcStartQuery, ProviderParams, ProvidersReply } from '../schemas/oidc.js';

/** The page to return to, checked: an http(s) URL on an allowed origin of `book` (never an open redirect). */
function returnPage(books: BookRegistry, book: string, value: string): string {
  if (!books.get(book)) throw new OidcError('book', `there is no book "${book}" on this Folio`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new OidcError('return', `the return page "${value}" is not an absolute URL`);
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password || !books.allows(url.origin, book)) {
    throw new OidcError('return', `the return page ${url.origin} is not an allowed origin of book "${book}": sign in from a page of the book (its administrator adds origins with "folio books origins add")`);
  }
  url.hash = '';
  return url.href;
}

/**
 * The cookie that binds a dashboard sign-in to the browser that started it (its state, HttpOnly, SameSite=Lax, 10
 * minutes, sent to the callback only): a callback URL opened in another browser (login CSRF) signs nobody in there.
 */
const bindingCookie = 'folio-signin';
const bindingPath = '/api/auth/oidc/';
const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * A refused start or callback: a small page (or JSON when Accept prefers it) saying what went wrong, with a link back
 * to the book page (or the dashboard) when it is known (checked), logged with the provider. The refusal is a 400 (404: no such provider).
 */
function refuse(request: FastifyRequest, reply: FastifyReply, event: string, err: OidcError | IdentityRefusal, context: { provider: string; back?: string | undefined; dashboard?: boolean; status?: number }) {
  const status = context.status ?? 400;
  request.log.warn({ event, reason: err.reason, provider: context.provider, client: request.ip }, err.message);
  reply.code(status).header('cache-control', 'no-store');
  if (prefersJson(request)) return reply.send({ statusCode: status, error: `oidc_${err.reason}`, message: err.message });
  const where = context.dashboard ? 'the dashboard' : 'the book';
  const back = context.back ? `<p><a href="${escapeHtml(context.back)}">Back to ${where}</a></p>` : `<p>Go back to ${context.dashboard ? 'the dashboard' : 'the book page'} and try again.</p>`;
  return reply
    .type('text/html; charset=utf-8')
    .send(`<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Folio: sign-in refused</title></head><body><h1>The sign-in did not work</h1><p>${escapeHtml(err.message)}</p>${back}</body></html>\n`);
}

/**
 * Signing in with an identity provider (SPEC §9, OpenID Connect: authorization code with PKCE, through openid-client).
 * `start` and `callback` are navigations from the book's site to Folio and from the provider's: the only API routes
 * exempt from the refusal of cross-site navigations (plugins/security.ts). The sign-in's state, nonce and PKCE verifier
 * are kept server-side (db/oidc.ts, single use, 10 minutes), never in a cookie, so the flow works with every
 * third-party cookie blocked; the callback reaches the book page with a hand-off code (db/handoffs.ts) in the
 * fragment, whose exchange moves the page's anonymous work to the account as a password login does. A sign-in started
 * on the dashboard (no book) is a top-level round trip on Folio's own origin: its callback starts the dashboard's
 * first-party cookie session itself, as the dashboard's password login does, and returns to the screen asked for.
 */
const oidcRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db, books, config } = app;
  const publicOrigin = publicOriginOf(config);
  const dashboardUrl = `${publicOrigin}${dashboardPath}`;
  const bindingOptions = { path: bindingPath, httpOnly: true, secure: servesHttps(config), sameSite: 'lax' } as const;

  /** Records a sign-in and gives the provider's authorization URL for it. */
  async function authorizationUrl(request: FastifyRequest, providerId: string, login: Omit<OidcLogin, 'providerId'>): Promise<string> {
    const provider = await findProvider(db, providerId);
    if (!provider) throw new OidcError('provider', `there is no identity provider "${providerId}" on this Folio (see GET /api/auth/providers)`);
    await app.limitOidcStart(request);
    const { state, nonce, codeVerifier } = await startOidcLogin(db, { ...login, providerId });
    const url = client.buildAuthorizationUrl(configurationOf(provider, app.secret), {
      redirect_uri: callbackUrlOf(publicOrigin, provider.id),
      scope: oidcScopes,
      state,
      nonce,
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    });
    return url.href;
  }

  app.get(
    '/api/auth/providers',
    {
      config: { access: 'public' },
      schema: { tags: ['auth'], summary: 'The identity providers people may sign in with (id and title, for the login form)', response: { 200: ProvidersReply } },
    },
    async () => (await listProviders(db)).map((p) => ({ id: p.id, title: p.title })),
  );

  app.get(
    '/api/auth/oidc/:provider/start',
    {
      config: { access: 'public', crossSiteNavigation: true },
      schema: {
        tags: ['auth'],
        summary: "Start signing in with an identity provider from a book page or the dashboard: redirects (302) to the provider's authorization endpoint",
        description:
          "Opened by the browser (a popup or the whole page), not fetched. With `book`, `return` must be a page on an allowed origin of that book. Without `book`, a sign-in on Folio's dashboard: `return` must be the dashboard on Folio's public origin (/dashboard/, the screen in its fragment kept), and Folio also sets a cookie (folio-signin: HttpOnly, SameSite=Lax, 10 minutes, path /api/auth/oidc/) that binds the sign-in to this browser. Folio keeps a new state, nonce and PKCE verifier for 10 minutes (single use) and redirects to the provider, asking for the scopes openid profile email. Unknown provider: 404; unknown book or a return page elsewhere: 400; both a small page saying what was wrong (JSON when Accept prefers it). Exempt from the refusal of cross-site navigations into the API.",
        params: ProviderParams,
        querystring: OidcStartQuery,
      },
    },
    async (request, reply) => {
      const { provider } = request.params;
      const { book } = request.query;
      try {
        if (book === undefined) {
          const returnUrl = dashboardReturnPage(publicOrigin, request.query.return);
          const url = await authorizationUrl(request, provider, { bookId: null, returnUrl, mode: 'dashboard', userId: null });
          reply.setCookie(bindingCookie, new URL(url).searchParams.get('state')!, { ...bindingOptions, maxAge: 600 });
          request.log.info({ event: 'oidc_start', provider, dashboard: true, client: request.ip }, 'sign-in with an identity provider started on the dashboard');
          return reply.header('cache-control', 'no-store').redirect(url, 302);
        }
        const returnUrl = returnPage(books, book, request.query.return);
        const url = await authorizationUrl(request, provider, { bookId: book, returnUrl, mode: 'signin', userId: null });
        request.log.info({ event: 'oidc_start', provider, book, client: request.ip }, 'sign-in with an identity provider started');
        return reply.header('cache-control', 'no-store').redirect(url, 302);
      } catch (err) {
        if (err instanceof OidcError) return refuse(request, reply, 'oidc_start_refused', err, { provider, status: err.reason === 'provider' ? 404 : 400, ...(book === undefined ? { dashboard: true, back: dashboardUrl } : {}) });
        throw err;
      }
    },
  );

  app.post(
    '/api/auth/oidc/:provider/link',
    {
      config: { access: 'user' },
      schema: {
        tags: ['auth'],
        summary: "Start linking an identity provider to the caller's account: the provider's authorization URL to open (its callback links the identity, then returns to the page)",
        description:
          'For a logged-in account (an anonymous session is refused: sign in or register instead). The page opens the URL in a popup or the whole page; after the provider, the callback links the identity to this account (refused when it already signs in to another account) and returns to `return` with a hand-off code for this account.',
        params: ProviderParams,
        body: OidcLinkBody,
        response: { 200: OidcLinkReply, ...errorReplies(400, 401, 403, 404, 415, 429) },
      },
    },
    async (request) => {
      const user = requireUser(request);
      if (!(await findProvider(db, request.params.provider))) throw new HttpError(404, 'oidc_provider', `there is no identity provider "${request.params.provider}" on this Folio (see GET /api/auth/providers)`);
      if (user.anonymous) throw new HttpError(400, 'no_account', 'an anonymous session has no account to link: sign in with the provider instead (its button on the login form)');
      try {
        const returnUrl = returnPage(books, request.body.book, request.body.return);
        return { url: await authorizationUrl(request, request.params.provider, { bookId: request.body.book, returnUrl, mode: 'link', userId: user.id }) };
      } catch (err) {
        if (err instanceof OidcError) throw new HttpError(err.reason === 'provider' ? 404 : 400, `oidc_${err.reason}`, err.message);
        throw err;
      }
    },
  );

  app.get(
    '/api/auth/oidc/:provider/callback',
    {
      config: { access: 'public', crossSiteNavigation: true },
      schema: {
        tags: ['auth'],
        summary: 'Where the identity provider sends the browser back: signs in (or links) and redirects (302) to the book page with #folio-handoff=CODE, or to the dashboard logged in',
        description:
          "The redirect URI registered at the provider. Uses the state once (unknown, used, expired after 10 minutes or another provider's: refused), exchanges the code with the PKCE verifier, and checks the ID token (signature with the provider's JWKS, iss, aud, exp, nonce). With allowed email domains, the email must be verified by the provider and in one of them. A sign-in finds the account linked to (issuer, sub), or makes one when the provider may create accounts (an email address never links accounts by itself); a link is verified here and completed when the page redeems the hand-off code in the session of the account that started it (POST /api/auth/handoff: 403 link_refused from any other session, 409 linked_elsewhere). Then redirects to the return page with a hand-off code in the fragment (POST /api/auth/handoff logs in; it moves the page's anonymous work to the account). A sign-in started on the dashboard must come back to the browser that started it (its folio-signin cookie, cleared here): it starts the dashboard's cookie session (as POST /api/auth/login does) and redirects to the dashboard's screen; an account that teaches no course sees the dashboard's page for students. Refusals: 400, a small page saying what went wrong with a link back to the page (JSON when Accept prefers it).",
        params: ProviderParams,
        querystring: OidcCallbackQuery,
      },
    },
    async (request, reply) => {
      const { provider: providerId } = request.params;
      const { state, error, error_description: description } = request.query;
      let pending: PendingOidcLogin | undefined;
      try {
        if (!state) throw new OidcError('state', 'the identity provider sent no state back');
        pending = await takeOidcState(db, state);
        if (!pending || pending.providerId !== providerId) throw new OidcError('state', 'this sign-in is unknown, used or expired (more than 10 minutes): start it again from the book page or the dashboard');
        if (pending.mode === 'dashboard') {
          const bound = request.cookies[bindingCookie];
          reply.clearCookie(bindingCookie, bindingOptions);
          if (bound === undefined || !timingSafeEqual(digest(bound), digest(state))) {
            throw new OidcError('browser', 'this sign-in was not started in this browser (or another one started here since): start it again from the dashboard');
          }
        }
        if (error) throw new OidcError('provider_error', `the identity provider refused the sign-in: ${error}${description ? ` (${description})` : ''}`);
        const provider = await findProvider(db, providerId);
        if (!provider) throw new OidcError('provider', `the identity provider "${providerId}" is no longer registered`);
        const configuration = configurationOf(provider, app.secret);
        const currentUrl = new URL(request.url, `${publicOrigin}/`);
        let tokens;
        try {
          tokens = await client.authorizationCodeGrant(configuration, currentUrl, { pkceCodeVerifier: pending.codeVerifier, expectedState: state, expectedNonce: pending.nonce, idTokenExpected: true });
        } catch (err) {
          request.log.warn({ event: 'oidc_token_refused', provider: providerId, err }, 'the identity provider\'s answer was refused');
          const cause = (err as { cause?: unknown }).cause;
          const detail =
            err instanceof client.ResponseBodyError || err instanceof client.AuthorizationResponseError
              ? `${err.error}${err.error_description ? `: ${err.error_description}` : ''}`
              : [(err as Error).message, cause instanceof Error ? cause.message : typeof cause === 'object' && cause && 'claim' in cause ? `claim ${String((cause as { claim: unknown }).claim)}` : undefined].filter(Boolean).join(': ');
          throw new OidcError('token', `the identity provider's answer could not be verified (${detail}): start the sign-in again`);
        }
        let raw: Record<string, unknown> = { ...tokens.claims() };
        // Providers may keep profile and email out of the ID token (in userinfo, for the same sub).
        if ((raw['email'] === undefined || raw['name'] === undefined) && configuration.serverMetadata().userinfo_endpoint) {
          try {
            const info = await client.fetchUserInfo(configuration, tokens.access_token, String(raw['sub']));
            raw = { ...info, ...raw, ...(raw['email'] === undefined ? { email: info.email, email_verified: info.email_verified } : {}) };
          } catch (err) {
            request.log.warn({ event: 'oidc_userinfo_failed', provider: providerId, err }, 'the identity provider\'s userinfo could not be read');
          }
        }
        const claims = claimsOf(raw);
        checkDomain(provider, claims);
        const identity = { issuer: provider.metadata.issuer, sub: claims.sub, providerId, name: claims.name, email: claims.email, emailVerified: claims.emailVerified };
        let userId: string;
        let created = false;
        let link: string | null = null;
        if (pending.mode === 'link' && pending.userId) {
          // Linked when the page redeems the hand-off code in the session of the account that started (routes/handoff.ts).
          const owner = await identityOwner(db, identity.issuer, identity.sub);
          if (owner !== undefined && owner !== pending.userId) throw new IdentityRefusal('linked_elsewhere', 'this account of the identity provider already signs in to another Folio account: log in to that one, or unlink it there first');
          userId = pending.userId;
          link = JSON.stringify(identity);
        } else {
          const signedIn = await signInIdentity(db, identity, provider.createAccounts);
          userId = signedIn.user.id;
          created = signedIn.created;
        }
        const user = await findUserById(db, userId);
        if (!user) throw new OidcError('account', 'the account of this sign-in no longer exists');
        if (pending.mode === 'dashboard') {
          const previous = request.user;
          if (previous?.anonymous && previous.id !== user.id) await mergeUsers(db, previous.id, user.id);
          await startSession(request, reply, user, 'cookie');
          request.log.info({ event: 'oidc_signin', provider: providerId, userId: user.id, newUser: created, dashboard: true, client: request.ip }, 'signed in to the dashboard with an identity provider');
          return reply.header('cache-control', 'no-store').redirect(pending.returnUrl, 302);
        }
        if (pending.bookId === null) throw new OidcError('state', 'this sign-in names no book to return to: start it again from the book page');
        const code = await createHandoff(db, user.id, pending.bookId, Date.now(), link);
        request.log.info({ event: pending.mode === 'link' ? 'oidc_link_verified' : 'oidc_signin', provider: providerId, userId: user.id, newUser: created, book: pending.bookId, client: request.ip }, 'signed in with an identity provider');
        return reply.header('cache-control', 'no-store').redirect(handoffTarget(pending.returnUrl, code), 302);
      } catch (err) {
        if (err instanceof OidcError || err instanceof IdentityRefusal) return refuse(request, reply, 'oidc_callback_refused', err, { provider: providerId, back: pending?.returnUrl, dashboard: pending?.mode === 'dashboard' });
        throw err;
      }
    },
  );

  app.get(
    '/api/auth/identities',
    {
      config: { access: 'user' },
      schema: { tags: ['auth'], summary: "The identity providers linked to the caller's account", response: { 200: IdentitiesReply, ...errorReplies(401) } },
    },
    async (request) => (await identitiesOf(db, requireUser(request).id)).map((i) => ({ provider: i.provider, ...(i.email ? { email: i.email } : {}), emailVerified: i.emailVerified, linkedAt: new Date(i.linkedAt).toISOString() })),
  );

  app.delete(
    '/api/auth/identities/:provider',
    {
      config: { access: 'user' },
      schema: {
        tags: ['auth'],
        summary: "Unlink an identity provider from the caller's account (refused, 409, when the account would have no password and no other provider left)",
        params: ProviderParams,
        response: { 204: { type: 'null' }, ...errorReplies(401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const user = requireUser(request);
      let removed: number;
      try {
        removed = await unlinkIdentity(db, user.id, request.params.provider);
      } catch (err) {
        if (err instanceof IdentityRefusal) throw new HttpError(409, 'last_login', err.message);
        throw err;
      }
      if (removed === 0) throw new HttpError(404, 'not_linked', `no identity of provider "${request.params.provider}" is linked to this account (see GET /api/auth/identities)`);
      request.log.info({ event: 'oidc_unlinked', provider: request.params.provider, userId: user.id, client: request.ip }, 'identity provider unlinked');
      return reply.code(204).send(null);
    },
  );
};

export default oidcRoutes;
