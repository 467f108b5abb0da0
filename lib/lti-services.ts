import { SignJWT } from 'jose';
import { randomUUID } from 'node:crypto';
import type { Database } from '../db/index.js';
import type { LtiPlatform } from '../db/lti.js';
import { signingAlgorithm, signingKey } from './lti-keys.js';

/**
 * Calling an LTI platform's Advantage services (Assignment and Grade Services, Names and Role Provisioning Services)
 * as the 1EdTech Security Framework has it: an OAuth 2 access token from the platform's token endpoint by the
 * client-credentials grant, Folio authenticating with a JWT assertion signed with its own key (lib/lti-keys.ts, whose
 * public half the platform reads at /lti/jwks). Tokens are asked for only the scopes a call needs and cached until
 * shortly before they expire; a call answered 401 drops its token and tries once more with a new one.
 */

/** Scopes of the Advantage services. */
export const ltiScopes = {
  lineitem: 'https://purl.imsglobal.org/spec/lti-ags/scope/lineitem',
  lineitemReadonly: 'https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly',
  score: 'https://purl.imsglobal.org/spec/lti-ags/scope/score',
  resultReadonly: 'https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly',
  memberships: 'https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly',
} as const;

/** How long a request to a platform may take. */
export const serviceTimeoutMs = 10_000;
/** A cached token is not used in its last 30 seconds (the request it goes with takes time too). */
const tokenMarginMs = 30_000;
/** The life of a client assertion: five minutes, as the Security Framework recommends. */
const assertionLifetimeSeconds = 300;

/** A service call that failed: `status` the platform's HTTP status (undefined when it could not be reached), `retryable` whether trying later may help. */
export class LtiServiceError extends Error {
  override name = 'LtiServiceError';
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

export type ServicePlatform = Pick<LtiPlatform, 'issuer' | 'clientId' | 'tokenUrl'>;

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** Tokens by platform, client id and scopes (sorted); per process. */
const tokens = new Map<string, CachedToken>();
const tokenKey = (platform: ServicePlatform, scopes: readonly string[]) => JSON.stringify([platform.issuer, platform.clientId, platform.tokenUrl, [...scopes].sort()]);

/** Forgets every cached token (tests; and after `folio lti keys rotate` nothing needs it: a token outlives the key that got it). */
export function forgetServiceTokens(): void {
  tokens.clear();
}

/** Whether a failed HTTP status is worth trying again later: the platform busy or down, or a token refused. */
const retryableStatus = (status: number) => status === 408 || status === 429 || status >= 500 || status === 401;

/** A short account of a platform's error reply for logs and the course report: its status and the start of its body. */
async function describeReply(what: string, res: Response): Promise<string> {
  const body = (await res.text().catch(() => '')).replace(/\s+/g, ' ').trim().slice(0, 200);
  return `${what} answered ${res.status}${body ? `: ${body}` : ''}`;
}

/** fetch with Folio's timeout; a network failure or timeout becomes a retryable LtiServiceError naming the URL. */
async function call(url: string, init: RequestInit, fetchImpl: typeof fetch): Promise<Response> {
  try {
    return await fetchImpl(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(serviceTimeoutMs) });
  } catch (err) {
    const reason = (err as Error).name === 'TimeoutError' ? `no answer within ${serviceTimeoutMs / 1000} s` : ((err as { cause?: Error }).cause?.message ?? (err as Error).message);
    throw new LtiServiceError(`${url} could not be reached (${reason})`, undefined, true);
  }
}

/** A signed client assertion for the platform's token endpoint (RFC 7523): iss and sub Folio's client id, aud the token URL. */
export async function clientAssertion(db: Database, secret: string, platform: ServicePlatform): Promise<string> {
  const key = await signingKey(db, secret);
  return new SignJWT({})
    .setProtectedHeader({ alg: signingAlgorithm, kid: key.kid, typ: 'JWT' })
    .setIssuer(platform.clientId)
    .setSubject(platform.clientId)
    .setAudience(platform.tokenUrl)
    .setIssuedAt()
    .setExpirationTime(`${assertionLifetimeSeconds}s`)
    .setJti(randomUUID())
    .sign(key.privateKey);
}

/** An access token for `scopes` on `platform`: cached, else asked for with a client assertion. */
export async function serviceToken(db: Database, secret: string, platform: ServicePlatform, scopes: readonly string[], fetchImpl: typeof fetch = fetch): Promise<string> {
  const key = tokenKey(platform, scopes);
  const cached = tokens.get(key);
  if (cached && cached.expiresAt - tokenMarginMs > Date.now()) return cached.token;
  const form = new URLSearchParams({
    grant_type: 'client_credentials',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: await clientAssertion(db, secret, platform),
    scope: scopes.join(' '),
  });
  const res = await call(platform.tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: form.toString() }, fetchImpl);
  if (!res.ok) {
    // 400/401 from a token endpoint is a registration problem (wrong client id, Folio's JWKS not configured): retried all the same, as an administrator may fix it.
    throw new LtiServiceError(await describeReply(`the platform's token endpoint ${platform.tokenUrl}`, res), res.status, true);
  }
  const body = (await res.json().catch(() => undefined)) as { access_token?: unknown; expires_in?: unknown } | undefined;
  if (typeof body?.access_token !== 'string' || body.access_token.length === 0) {
    throw new LtiServiceError(`the platform's token endpoint ${platform.tokenUrl} answered without an access_token`, res.status, true);
  }
  const expiresIn = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 3600;
  tokens.set(key, { token: body.access_token, expiresAt: Date.now() + expiresIn * 1000 });
  return body.access_token;
}

export interface ServiceRequest {
  method?: 'GET' | 'POST' | 'PUT';
  /** The media type asked for (Accept). */
  accept: string;
  /** A JSON body and its media type. */
  body?: { contentType: string; json: unknown };
}

/**
 * A request to a service URL with a token for `scopes`; the platform's reply when it is 2xx. Otherwise an
 * LtiServiceError: retryable for 401 (after one try with a new token), 408, 429, 5xx and network failures.
 */
export async function serviceRequest(db: Database, secret: string, platform: ServicePlatform, scopes: readonly string[], url: string, request: ServiceRequest, fetchImpl: typeof fetch = fetch): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    const token = await serviceToken(db, secret, platform, scopes, fetchImpl);
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: request.accept };
    if (request.body) headers['content-type'] = request.body.contentType;
    const res = await call(url, { method: request.method ?? 'GET', headers, ...(request.body ? { body: JSON.stringify(request.body.json) } : {}) }, fetchImpl);
    if (res.ok) return res;
    if (res.status === 401 && attempt === 0) {
      tokens.delete(tokenKey(platform, scopes));
      await res.body?.cancel();
      continue;
    }
    throw new LtiServiceError(await describeReply(url, res), res.status, retryableStatus(res.status));
  }
}
