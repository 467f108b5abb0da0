import { createLocalJWKSet, createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT, type JSONWebKeySet, type JWTPayload } from 'jose';
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { escapeHtml } from '../lib/html.js';

/**
 * An LTI 1.3 platform (an LMS) for tests and the demo: no LTI platform installs locally, so this plays one with jose
 * and real RSA keys. It serves
 * - `/jwks` (its public key), `/auth` (the OIDC authorization endpoint: answers the tool's login redirect with an
 *   auto-posted form carrying a signed id_token, as platforms do),
 * - `/token` (client-credentials grant: verifies the tool's client assertion against the tool's real JWKS),
 * - `/lineitems…` (Assignment and Grade Services: line items and scores, recorded),
 * - `/memberships/:context` (Names and Role Provisioning Services, paged),
 * - `/course/:hint` (a course page embedding the tool's launch in an iframe, or opening it in a new window; with the
 *   plan's `storage`, it offers its storage to the tool: `lti_storage_target` and LTI Client Side postMessages),
 * - `/storage-frame` (the storage as a page of its own, framed by a course page),
 * - `/deep-link-return` (where a Deep Linking response is posted: verified, recorded, shown).
 * Everything the tool sends is recorded for tests to read.
 */

const claim = (name: string) => `https://purl.imsglobal.org/spec/lti/claim/${name}`;
export const lis = 'http://purl.imsglobal.org/vocab/lis/v2/membership#';
const scopes = {
  lineitem: 'https://purl.imsglobal.org/spec/lti-ags/scope/lineitem',
  lineitemReadonly: 'https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly',
  score: 'https://purl.imsglobal.org/spec/lti-ags/scope/score',
  resultReadonly: 'https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly',
  memberships: 'https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly',
};

export interface PlatformOptions {
  /** The tool's (Folio's) origin: its /lti/login, /lti/launch and /lti/jwks. */
  toolOrigin: string;
  /** The tool's JWKS, when the tool is not listening (tests with inject); else fetched from toolOrigin/lti/jwks. */
  toolJwks?: () => Promise<JSONWebKeySet>;
  clientId?: string;
  deploymentId?: string;
  /** Listen here (default 127.0.0.1, port 0: any free port). */
  host?: string;
  port?: number;
  /**
   * Serve HTTPS with this key and certificate (PEM) for the browser's side (auth, course pages, deep linking return);
   * the back channel the tool calls itself (JWKS, token, services) is then plain HTTP on 127.0.0.1, as the tool's
   * server neither resolves the browser's mapped names nor trusts a self-signed certificate.
   */
  tls?: { key: string; cert: string };
  /** The origin the platform is reached at, when not its listen address (a name mapped by the browser). */
  publicOrigin?: (port: number) => string;
}

/** A person in a course, as NRPS lists them. */
export interface Member {
  user_id: string;
  roles: string[];
  status?: 'Active' | 'Inactive' | 'Deleted';
  name?: string;
  given_name?: string;
  family_name?: string;
  email?: string;
}

/** Who launches, from which course and link: what the platform puts in the id_token for a login hint. */
export interface LaunchPlan {
  sub: string;
  roles: string[];
  targetLinkUri: string;
  name?: string;
  email?: string;
  context?: { id: string; title?: string; label?: string };
  resourceLink?: { id: string; title?: string };
  /** The line item of the link (created when missing): the launch carries the AGS claim. */
  lineItem?: { id: string; label: string; scoreMaximum: number };
  /** Offer NRPS for the context. */
  nrps?: boolean;
  custom?: Record<string, string>;
  /** A Deep Linking request instead of a resource link launch. */
  deepLinking?: { data?: string; acceptMultiple?: boolean; acceptLineItem?: boolean };
  /** Claims to set or (undefined) remove, last. */
  overrides?: Record<string, unknown>;
  /**
   * The course page offers its storage (1EdTech "LTI Client Side postMessages"), answering lti.capabilities,
   * lti.put_data and lti.get_data from the tool's origin: `true`, the page itself (`lti_storage_target=_parent`);
   * `'frame'`, a hidden frame of it at /storage-frame named `lti_storage_frame` (as Blackboard Learn names its own).
   */
  storage?: boolean | 'frame';
}

export interface ReceivedScore {
  lineItem: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: Record<string, unknown>;
}

export interface TokenRequest {
  ok: boolean;
  scope: string;
  error?: string;
}

export interface LineItem {
  id: string;
  label: string;
  scoreMaximum: number;
  resourceLinkId?: string;
  resourceId?: string;
  tag?: string;
}

export type Platform = Awaited<ReturnType<typeof startPlatform>>;

interface AutoPostOptions {
  /** The form's target (a frame's name, `_blank`). */
  target?: string;
  /** HTML before the form. */
  before?: string;
  /** More attributes of the form, e.g. ` rel="opener"`. */
  formAttributes?: string;
  /** Post once the page and its frames have loaded, not as soon as the form is parsed. */
  afterLoad?: boolean;
}

/** An HTML page with a form posted as soon as it is parsed (or loaded). */
function autoPost(action: string, fields: Record<string, string>, { target, before = '', formAttributes = '', afterLoad = false }: AutoPostOptions = {}): string {
  const inputs = Object.entries(fields)
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
    .join('');
  return `<!doctype html><html><head><meta charset="utf-8"><title>LMS</title></head><body>${before}<form id="post" method="post" action="${escapeHtml(action)}"${target ? ` target="${escapeHtml(target)}"` : ''}${formAttributes}>${inputs}<noscript><button>Continue</button></noscript></form><script>${afterLoad ? "window.addEventListener('load', function () { document.getElementById('post').submit(); })" : "document.getElementById('post').submit()"}</script></body></html>`;
}

const storageFrameName = 'lti_storage_frame';

/**
 * The platform's storage on a course page (LTI postMessage Storage): a store per sending origin, answering only the
 * tool's origin, kept in `window.ltiStorage` (origin → key → value) for tests to read.
 */
function storageResponder(toolOrigin: string): string {
  return `<script>
window.ltiStorage = {};
window.addEventListener('message', function (event) {
  var m = event.data;
  if (event.origin !== ${JSON.stringify(toolOrigin)} || !m || typeof m !== 'object' || typeof m.subject !== 'string') return;
  var store = window.ltiStorage[event.origin] = window.ltiStorage[event.origin] || {};
  var reply = { subject: m.subject + '.response', message_id: m.message_id };
  if (m.subject === 'lti.capabilities') reply.supported_messages = [{ subject: 'lti.capabilities' }, { subject: 'lti.put_data' }, { subject: 'lti.get_data' }];
  else if (m.subject === 'lti.put_data') { store[m.key] = m.value; reply.key = m.key; reply.value = m.value; }
  else if (m.subject === 'lti.get_data') {
    reply.key = m.key;
    if (Object.prototype.hasOwnProperty.call(store, m.key)) reply.value = store[m.key];
    else reply.error = { code: 'not_found', message: 'no value for ' + m.key };
  } else reply.error = { code: 'unsupported_subject', message: 'not supported: ' + m.subject };
  event.source.postMessage(reply, event.origin);
});
</script>`;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startPlatform(options: PlatformOptions) {
  const clientId = options.clientId ?? 'folio';
  const deploymentId = options.deploymentId ?? 'd1';
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const kid = 'platform-key-1';
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const toolKeys = options.toolJwks ? undefined : createRemoteJWKSet(new URL(`${options.toolOrigin}/lti/jwks`), { cooldownDuration: 0 });
  const verifyWithToolKeys = async (jwt: string, audience: string) => {
    const keys = options.toolJwks ? createLocalJWKSet(await options.toolJwks()) : toolKeys!;
    return jwtVerify(jwt, keys, { algorithms: ['RS256'], audience });
  };

  const plans = new Map<string, LaunchPlan>();
  const members = new Map<string, Member[]>();
  const lineItems = new Map<string, LineItem>();
  const tokens = new Map<string, { scopes: string[]; expiresAt: number }>();
  const usedJtis = new Set<string>();
  const record = {
    scores: [] as ReceivedScore[],
    tokenRequests: [] as TokenRequest[],
    membershipRequests: [] as Array<{ context: string; authorization: string | undefined; accept: string | undefined }>,
    deepLinkResponses: [] as JWTPayload[],
    authRequests: [] as Array<Record<string, string>>,
  };
  /** Replies the score endpoint gives before accepting (a platform down): statuses, used up one per score. */
  const scoreFailures: number[] = [];
  /** Scopes the token endpoint refuses (a registration without that service). */
  const withheldScopes = new Set<string>();
  let membersPageSize = 50;
  let tokenLifetimeSeconds = 3600;

  /** The origin browsers reach (and the issuer), and the one the tool's server calls. */
  let origin = '';
  let serviceOrigin = '';
  const registration = () => ({ issuer: origin, clientId, authUrl: `${origin}/auth`, tokenUrl: `${serviceOrigin}/token`, jwksUrl: `${serviceOrigin}/jwks`, deployments: [deploymentId] });
  const lineItemUrl = (id: string) => `${serviceOrigin}/lineitems/${encodeURIComponent(id)}`;

  /** The id_token claims of a plan, for `nonce`. */
  function claimsOf(plan: LaunchPlan, nonce: string): JWTPayload {
    const now = Math.floor(Date.now() / 1000);
    const all: Record<string, unknown> = {
      iss: origin,
      aud: clientId,
      sub: plan.sub,
      iat: now,
      exp: now + 300,
      nonce,
      name: plan.name,
      email: plan.email,
      [claim('version')]: '1.3.0',
      [claim('deployment_id')]: deploymentId,
      [claim('target_link_uri')]: plan.targetLinkUri,
      [claim('roles')]: plan.roles,
      [claim('context')]: plan.context,
      [claim('custom')]: plan.custom,
    };
    if (plan.deepLinking) {
      all[claim('message_type')] = 'LtiDeepLinkingRequest';
      all['https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings'] = {
        deep_link_return_url: `${origin}/deep-link-return`,
        accept_types: ['ltiResourceLink'],
        accept_presentation_document_targets: ['iframe', 'window'],
        accept_multiple: plan.deepLinking.acceptMultiple ?? true,
        accept_lineitem: plan.deepLinking.acceptLineItem ?? true,
        data: plan.deepLinking.data,
      };
    } else {
      all[claim('message_type')] = 'LtiResourceLinkRequest';
      all[claim('resource_link')] = plan.resourceLink ?? { id: 'link-1' };
      if (plan.lineItem) {
        if (!lineItems.has(plan.lineItem.id)) lineItems.set(plan.lineItem.id, { ...plan.lineItem, resourceLinkId: plan.resourceLink?.id ?? 'link-1' });
        all['https://purl.imsglobal.org/spec/lti-ags/claim/endpoint'] = {
          scope: [scopes.lineitem, scopes.resultReadonly, scopes.score],
          lineitems: `${serviceOrigin}/lineitems`,
          lineitem: lineItemUrl(plan.lineItem.id),
        };
      }
    }
    if (plan.nrps && plan.context) {
      all['https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice'] = { context_memberships_url: `${serviceOrigin}/memberships/${encodeURIComponent(plan.context.id)}`, service_versions: ['2.0'] };
    }
    Object.assign(all, plan.overrides ?? {});
    return Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined)) as JWTPayload;
  }

  const sign = (payload: JWTPayload) => new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' }).sign(privateKey);

  /** The bearer token's scopes, or undefined when it is missing, unknown or expired. */
  function granted(req: IncomingMessage): string[] | undefined {
    const auth = req.headers.authorization ?? '';
    const token = tokens.get(auth.startsWith('Bearer ') ? auth.slice(7) : '');
    return token && token.expiresAt > Date.now() ? token.scopes : undefined;
  }

  const json = (res: ServerResponse, status: number, body: unknown, type = 'application/json') => res.writeHead(status, { 'content-type': type }).end(JSON.stringify(body));
  const html = (res: ServerResponse, status: number, body: string) => res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' }).end(body);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
    const url = new URL(req.url ?? '/', origin);
    const path = url.pathname;
    const form = req.method === 'POST' && String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded') ? new URLSearchParams(await readBody(req)) : undefined;
    const param = (name: string) => form?.get(name) ?? url.searchParams.get(name) ?? undefined;

    if (path === '/jwks') return json(res, 200, { keys: [jwk] });

    if (path === '/auth') {
      const params = Object.fromEntries((form ?? url.searchParams).entries());
      record.authRequests.push(params);
      const plan = plans.get(params['login_hint'] ?? '');
      if (params['client_id'] !== clientId || params['redirect_uri'] !== `${options.toolOrigin}/lti/launch` || params['response_mode'] !== 'form_post' || params['scope'] !== 'openid' || !params['nonce']) {
        return html(res, 400, `<p>invalid authorization request</p>`);
      }
      if (!plan) return html(res, 400, `<p>unknown login_hint</p>`);
      const idToken = await sign(claimsOf(plan, params['nonce']));
      return html(res, 200, autoPost(params['redirect_uri'], { id_token: idToken, state: params['state'] ?? '' }));
    }

    if (path === '/token' && req.method === 'POST' && form) {
      const scope = form.get('scope') ?? '';
      const refuse = (error: string) => {
        record.tokenRequests.push({ ok: false, scope, error });
        return json(res, 400, { error: 'invalid_client', error_description: error });
      };
      if (form.get('grant_type') !== 'client_credentials') return refuse('grant_type');
      if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') return refuse('client_assertion_type');
      let payload: JWTPayload;
      try {
        ({ payload } = await verifyWithToolKeys(form.get('client_assertion') ?? '', `${serviceOrigin}/token`));
      } catch (err) {
        return refuse(`client_assertion: ${(err as Error).message}`);
      }
      if (payload.iss !== clientId || payload.sub !== clientId) return refuse('client_assertion iss/sub');
      if (typeof payload.jti !== 'string' || usedJtis.has(payload.jti)) return refuse('client_assertion jti');
      usedJtis.add(payload.jti);
      const asked = scope.split(' ').filter(Boolean);
      if (asked.length === 0 || asked.some((s) => !Object.values(scopes).includes(s))) return refuse('scope');
      if (asked.some((s) => withheldScopes.has(s))) {
        record.tokenRequests.push({ ok: false, scope, error: 'invalid_scope' });
        return json(res, 400, { error: 'invalid_scope', error_description: 'this registration does not offer the service' });
      }
      const token = randomBytes(16).toString('hex');
      tokens.set(token, { scopes: asked, expiresAt: Date.now() + tokenLifetimeSeconds * 1000 });
      record.tokenRequests.push({ ok: true, scope });
      return json(res, 200, { access_token: token, token_type: 'Bearer', expires_in: tokenLifetimeSeconds, scope });
    }

    const scoreMatch = /^\/lineitems\/([^/]+)\/scores$/.exec(path);
    if (scoreMatch && req.method === 'POST') {
      if (!granted(req)?.includes(scopes.score)) return json(res, 401, { error: 'invalid_token' });
      const failure = scoreFailures.shift();
      if (failure !== undefined) return json(res, failure, { error: 'unavailable' });
      const id = decodeURIComponent(scoreMatch[1]!);
      if (!lineItems.has(id)) return json(res, 404, { error: 'no such line item' });
      const body = JSON.parse(await readBody(req)) as Record<string, unknown>;
      record.scores.push({ lineItem: id, authorization: req.headers.authorization, contentType: req.headers['content-type'], body });
      return res.writeHead(204).end();
    }

    const itemMatch = /^\/lineitems\/([^/]+)$/.exec(path);
    if (itemMatch && req.method === 'GET') {
      const found = granted(req);
      if (!found?.includes(scopes.lineitem) && !found?.includes(scopes.lineitemReadonly)) return json(res, 401, { error: 'invalid_token' });
      const item = lineItems.get(decodeURIComponent(itemMatch[1]!));
      return item ? json(res, 200, { ...item, id: lineItemUrl(item.id) }, 'application/vnd.ims.lis.v2.lineitem+json') : json(res, 404, {});
    }

    if (path === '/lineitems') {
      const found = granted(req);
      if (!found?.includes(scopes.lineitem) && !(req.method === 'GET' && found?.includes(scopes.lineitemReadonly))) return json(res, 401, { error: 'invalid_token' });
      if (req.method === 'POST') {
        const body = JSON.parse(await readBody(req)) as Omit<LineItem, 'id'>;
        const id = `item-${lineItems.size + 1}`;
        lineItems.set(id, { ...body, id });
        return json(res, 201, { ...body, id: lineItemUrl(id) }, 'application/vnd.ims.lis.v2.lineitem+json');
      }
      const link = url.searchParams.get('resource_link_id');
      const listed = [...lineItems.values()].filter((i) => !link || i.resourceLinkId === link).map((i) => ({ ...i, id: lineItemUrl(i.id) }));
      return json(res, 200, listed, 'application/vnd.ims.lis.v2.lineitemcontainer+json');
    }

    const membersMatch = /^\/memberships\/([^/]+)$/.exec(path);
    if (membersMatch && req.method === 'GET') {
      const context = decodeURIComponent(membersMatch[1]!);
      record.membershipRequests.push({ context, authorization: req.headers.authorization, accept: req.headers.accept });
      if (!granted(req)?.includes(scopes.memberships)) return json(res, 401, { error: 'invalid_token' });
      const all = members.get(context) ?? [];
      const from = Number(url.searchParams.get('from') ?? 0);
      const page = all.slice(from, from + membersPageSize);
      const headers: Record<string, string> = { 'content-type': 'application/vnd.ims.lti-nrps.v2.membershipcontainer+json' };
      if (from + membersPageSize < all.length) headers['link'] = `<${serviceOrigin}/memberships/${encodeURIComponent(context)}?from=${from + membersPageSize}>; rel="next"`;
      return res.writeHead(200, headers).end(JSON.stringify({ id: `${serviceOrigin}${path}`, context: { id: context }, members: page }));
    }

    if (path === '/storage-frame') return html(res, 200, `<!doctype html><html><head><meta charset="utf-8"><title>LMS storage</title></head><body>${storageResponder(options.toolOrigin)}</body></html>`);

    const courseMatch = /^\/course\/([^/]+)$/.exec(path);
    if (courseMatch) {
      const hint = decodeURIComponent(courseMatch[1]!);
      const plan = plans.get(hint);
      if (!plan) return html(res, 404, '<p>no such launch</p>');
      const login: Record<string, string> = { iss: origin, login_hint: hint, target_link_uri: plan.targetLinkUri, lti_message_hint: `message-${hint}`, client_id: clientId, lti_deployment_id: deploymentId };
      if (plan.storage) login['lti_storage_target'] = plan.storage === 'frame' ? storageFrameName : '_parent';
      const storage = plan.storage === 'frame' ? `<iframe name="${storageFrameName}" src="/storage-frame" hidden></iframe>` : plan.storage ? storageResponder(options.toolOrigin) : '';
      const heading = `<h1>${escapeHtml(plan.context?.title ?? 'Course')}</h1>`;
      if (url.searchParams.get('window') === 'new') {
        // A form to _blank is noopener by default; the tool's window reaches the storage through window.opener.
        return html(
          res,
          200,
          autoPost(`${options.toolOrigin}/lti/login`, login, { target: '_blank', before: `${storage}${heading}<p>The tool opens in a new window.</p>`, formAttributes: plan.storage ? ' rel="opener"' : '', afterLoad: plan.storage === 'frame' }),
        );
      }
      return html(
        res,
        200,
        autoPost(`${options.toolOrigin}/lti/login`, login, {
          target: 'tool',
          before: `${storage}${heading}<iframe name="tool" title="Folio" style="width:100%;height:80vh;border:1px solid #999" allow="clipboard-write"></iframe>`,
          afterLoad: plan.storage === 'frame',
        }),
      );
    }

    if (path === '/deep-link-return' && req.method === 'POST' && form) {
      try {
        const { payload } = await verifyWithToolKeys(form.get('JWT') ?? '', origin);
        record.deepLinkResponses.push(payload);
        const items = (payload['https://purl.imsglobal.org/spec/lti-dl/claim/content_items'] as Array<{ title?: string; url?: string }> | undefined) ?? [];
        return html(res, 200, `<h1>Linked</h1><ul>${items.map((i) => `<li>${escapeHtml(i.title ?? '')} ${escapeHtml(i.url ?? '')}</li>`).join('')}</ul>`);
      } catch (err) {
        return html(res, 400, `<p>the deep linking response does not verify: ${escapeHtml((err as Error).message)}</p>`);
      }
    }

    return json(res, 404, { error: 'not found' });
  }

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: Error) => {
      if (!res.headersSent) json(res, 500, { error: err.message });
      else res.end();
    });
  };
  const listen = async (server: Server, port: number) => {
    await new Promise<void>((resolve) => server.listen(port, options.host ?? '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  };
  const server: Server = options.tls ? createHttpsServer({ key: options.tls.key, cert: options.tls.cert }, listener) : createHttpServer(listener);
  const port = await listen(server, options.port ?? 0);
  origin = options.publicOrigin ? options.publicOrigin(port) : `${options.tls ? 'https' : 'http'}://${options.host ?? '127.0.0.1'}:${port}`;
  const backChannel = options.tls ? createHttpServer(listener) : undefined;
  serviceOrigin = backChannel ? `http://127.0.0.1:${await listen(backChannel, 0)}` : origin;
  const servers = backChannel ? [server, backChannel] : [server];

  return {
    get issuer() {
      return origin;
    },
    clientId,
    deploymentId,
    port,
    /** What `folio lti platforms add` takes (addPlatform in db/lti.ts). */
    registration,
    /** Sets who launches with login hint `hint`. */
    plan(hint: string, plan: LaunchPlan) {
      plans.set(hint, plan);
    },
    /** The id_token a plan gives for `nonce`, signed with the platform's key. */
    idToken: (plan: LaunchPlan, nonce: string) => sign(claimsOf(plan, nonce)),
    claimsOf,
    sign,
    lineItemUrl,
    lineItems,
    members,
    record,
    /** The next `statuses.length` scores are answered with these statuses (e.g. 503) instead of being taken. */
    failScores(...statuses: number[]) {
      scoreFailures.push(...statuses);
    },
    /** The token endpoint refuses these scopes from now on (a registration without the service), e.g. NRPS's. */
    withholdScopes(...refused: string[]) {
      for (const scope of refused) withheldScopes.add(scope);
    },
    setMembersPageSize(size: number) {
      membersPageSize = size;
    },
    /** Forgets every token it gave (a platform restarted): the next call with one gets 401. */
    revokeTokens() {
      tokens.clear();
    },
    setTokenLifetime(seconds: number) {
      tokenLifetimeSeconds = seconds;
    },
    /** The course page that launches `hint` in an iframe (or `?window=new`). */
    coursePage: (hint: string) => `${origin}/course/${encodeURIComponent(hint)}`,
    close: () =>
      Promise.all(
        servers.map(
          (each) =>
            new Promise<void>((resolve) => {
              each.close(() => resolve());
              each.closeAllConnections();
            }),
        ),
      ).then(() => undefined),
  };
}
