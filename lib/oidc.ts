import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import * as client from 'openid-client';
import { platformUrl } from '../db/lti.js';
import type { OidcProvider } from '../db/oidc.js';
import { deriveKey, keyPurposes } from './keys.js';

/**
 * Signing in with an identity provider (OpenID Connect, SPEC §9): the relying party is openid-client (certified),
 * configured from the provider's metadata discovered when it was added. Client secrets are stored encrypted here;
 * what the flow keeps between start and callback is in db/oidc.ts.
 */

/** The scopes Folio asks every provider for. */
export const oidcScopes = 'openid profile email';

/** Something about a provider or its answer is not acceptable: the message says what, for the person or the admin. */
export class OidcError extends Error {
  override name = 'OidcError';
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** The client secret encrypted for provider `id` (AES-256-GCM, the id as associated data): `v1.` iv, ciphertext, tag. */
export function sealClientSecret(serverSecret: string, id: string, clientSecret: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', deriveKey(serverSecret, keyPurposes.oidcSecrets), iv).setAAD(Buffer.from(id));
  const sealed = Buffer.concat([cipher.update(clientSecret, 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64url'), sealed.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
}

/** The client secret of provider `id`; OidcError when it cannot be decrypted (FOLIO_SECRET changed since it was added). */
export function openClientSecret(serverSecret: string, id: string, stored: string): string {
  const [version, iv, sealed, tag] = stored.split('.');
  try {
    if (version !== 'v1' || !iv || sealed === undefined || !tag) throw new Error('not a sealed secret');
    const decipher = createDecipheriv('aes-256-gcm', deriveKey(serverSecret, keyPurposes.oidcSecrets), Buffer.from(iv, 'base64url')).setAAD(Buffer.from(id));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(sealed, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    throw new OidcError('secret', `the client secret of identity provider "${id}" cannot be decrypted with this server secret (FOLIO_SECRET changed since it was added?): remove the provider and add it again with "folio auth providers add"`);
  }
}

/** Whether requests to `issuer` may be plain http (a loopback host, for development and tests). */
const insecure = (issuer: string) => new URL(issuer).protocol === 'http:';

/**
 * The provider's metadata from `issuer`/.well-known/openid-configuration, checked by openid-client (its `issuer` must be
 * the one asked). The issuer must be https (plain http only on loopback hosts). OidcError says why it failed.
 */
export async function discoverProvider(issuer: string, clientId: string, timeoutSeconds = 10): Promise<client.ServerMetadata> {
  try {
    platformUrl('--issuer', issuer);
  } catch (err) {
    throw new OidcError('issuer', (err as Error).message);
  }
  try {
    const config = await client.discovery(new URL(issuer), clientId, undefined, undefined, { timeout: timeoutSeconds, execute: insecure(issuer) ? [client.allowInsecureRequests] : [] });
    const metadata = config.serverMetadata();
    if (!metadata.authorization_endpoint || !metadata.token_endpoint || !metadata.jwks_uri) {
      throw new OidcError('discovery', `${issuer} names no authorization endpoint, token endpoint or jwks_uri in its OpenID configuration: it cannot sign people in to Folio`);
    }
    return { ...metadata };
  } catch (err) {
    if (err instanceof OidcError) throw err;
    const cause = (err as { cause?: unknown }).cause;
    const detail = [(err as Error).message, cause instanceof Error ? cause.message : undefined].filter(Boolean).join(': ');
    throw new OidcError('discovery', `could not read ${new URL('.well-known/openid-configuration', issuer.endsWith('/') ? issuer : `${issuer}/`).href} (${detail}): check the --issuer URL and that this machine reaches it`);
  }
}

/** Configurations by provider (and when it was added: a provider removed and added again is configured anew); each keeps its JWKS cache. */
const configurations = new Map<string, client.Configuration>();

/** openid-client's configuration for `provider`: its metadata, client id and secret; ID token signatures checked against its JWKS. */
export function configurationOf(provider: OidcProvider, serverSecret: string): client.Configuration {
  const key = `${provider.id}\u0000${provider.createdAt}`;
  let config = configurations.get(key);
  if (!config) {
    config = new client.Configuration(provider.metadata, provider.clientId, openClientSecret(serverSecret, provider.id, provider.clientSecret));
    // The ID token comes from the token endpoint over TLS; its signature is checked with the provider's keys all the same.
    client.enableNonRepudiationChecks(config);
    if (insecure(provider.issuer)) client.allowInsecureRequests(config);
    config.timeout = 10;
    configurations.set(key, config);
  }
  return config;
}

/** Folio's redirect URI at provider `id` (what its administrator registers there). */
export const callbackUrlOf = (publicOrigin: string, id: string) => `${publicOrigin}/api/auth/oidc/${encodeURIComponent(id)}/callback`;

/** What a sign-in tells of the person: from the checked ID token (and the provider's userinfo for what it lacks). */
export interface OidcClaims {
  sub: string;
  name: string | undefined;
  email: string | undefined;
  emailVerified: boolean;
}

const text = (value: unknown): string | undefined => (typeof value === 'string' && value.length > 0 ? value : undefined);

/** The claims Folio keeps, from the ID token's (and userinfo's) claims. */
export function claimsOf(claims: Record<string, unknown>): OidcClaims {
  const sub = text(claims['sub']);
  if (!sub) throw new OidcError('sub', 'the identity provider named no user (sub)');
  const name = text(claims['name']) ?? ([text(claims['given_name']), text(claims['family_name'])].filter(Boolean).join(' ') || undefined);
  const verified = claims['email_verified'];
  return { sub, name: name?.slice(0, 200), email: text(claims['email'])?.slice(0, 254), emailVerified: verified === true || verified === 'true' };
}

/**
 * Refuses a sign-in whose email domain is not one of the provider's allowed domains (none: any). Only a verified email
 * counts (an address the provider did not check says nothing about the person's school).
 */
export function checkDomain(provider: Pick<OidcProvider, 'id' | 'allowedDomains'>, claims: OidcClaims): void {
  if (provider.allowedDomains.length === 0) return;
  const domain = claims.email?.split('@').pop()?.toLowerCase();
  if (!claims.email || !claims.emailVerified || !domain || !provider.allowedDomains.includes(domain)) {
    throw new OidcError(
      'domain',
      `this sign-in is for accounts of ${provider.allowedDomains.map((d) => `@${d}`).join(' or ')} only${claims.email ? `, and ${claims.email}${claims.emailVerified ? ' is not one' : ' is not verified by the provider'}` : ', and the provider gave no email address'}: sign in with your school account`,
    );
  }
}

/** An email domain as stored: lower case, without "@"; undefined when it is not a domain name. */
export function emailDomain(value: string): string | undefined {
  const domain = value.replace(/^@/, '').toLowerCase();
  return /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/.test(domain) ? domain : undefined;
}

/** The dashboard's path on Folio's origin (routes/dashboard.ts). */
export const dashboardPath = '/dashboard/';

/**
 * The dashboard page a sign-in started there returns to, checked: Folio's own origin and the dashboard's path, nothing
 * else (never an open redirect). Its fragment (the screen asked for, #/courses/ID…) is kept when it is one of the
 * dashboard's addresses.
 */
export function dashboardReturnPage(publicOrigin: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new OidcError('return', `the return page "${value}" is not an absolute URL`);
  }
  if (url.origin !== publicOrigin || url.pathname !== dashboardPath || url.username || url.password || url.search) {
    throw new OidcError('return', `without a book, the return page must be this Folio's dashboard (${publicOrigin}${dashboardPath}), not ${url.origin}${url.pathname}: sign in from the dashboard, or name the book of the page`);
  }
  if (!/^#\/[A-Za-z0-9._~%/-]*$/.test(url.hash)) url.hash = '';
  return url.href;
}
