import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import type { LtiPlatform } from '../db/lti.js';
import type { StaffRole } from '../db/schema.js';
import type { BookRegistry, RegisteredBook } from './book-registry.js';

/**
 * Checking an LTI 1.3 launch (1EdTech LTI 1.3 Core and Security Framework): the platform's id_token verified against
 * its JWKS, its claims checked one by one. Each failure is an LtiRefusal naming what was wrong.
 */

/** A launch refused: `reason` a short code (logged, and in the JSON reply), the message saying what was wrong. */
export class LtiRefusal extends Error {
  override name = 'LtiRefusal';
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

const claim = (name: string) => `https://purl.imsglobal.org/spec/lti/claim/${name}`;
export const ltiClaims = {
  messageType: claim('message_type'),
  version: claim('version'),
  deploymentId: claim('deployment_id'),
  targetLinkUri: claim('target_link_uri'),
  resourceLink: claim('resource_link'),
  roles: claim('roles'),
  context: claim('context'),
  custom: claim('custom'),
} as const;

/** The clock skew allowed on `exp` and `iat`, in seconds. */
export const clockSkewSeconds = 60;

/** The platforms' key sets, one per JWKS URL: jose caches the keys and fetches them again for an unknown `kid`. */
const keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();
function keySetOf(jwksUrl: string): ReturnType<typeof createRemoteJWKSet> {
  let set = keySets.get(jwksUrl);
  if (!set) {
    set = createRemoteJWKSet(new URL(jwksUrl), { timeoutDuration: 5000, cooldownDuration: 30_000 });
    keySets.set(jwksUrl, set);
  }
  return set;
}

/** Verifies the id_token's signature (RS256 only) and its registered claims: iss, aud, azp, exp, iat (60 s skew). */
async function verifiedPayload(idToken: string, platform: LtiPlatform): Promise<JWTPayload> {
  let alg: string | undefined;
  try {
    alg = decodeProtectedHeader(idToken).alg;
  } catch {
    throw new LtiRefusal('id_token', 'the id_token is not a JSON Web Token');
  }
  if (alg !== 'RS256') throw new LtiRefusal('alg', `the id_token is signed with "${alg ?? '(no alg)'}": Folio accepts RS256 only`);
  try {
    const { payload } = await jwtVerify(idToken, keySetOf(platform.jwksUrl), {
      algorithms: ['RS256'],
      issuer: platform.issuer,
      audience: platform.clientId,
      clockTolerance: clockSkewSeconds,
      requiredClaims: ['iat', 'exp', 'sub', 'nonce'],
    });
    return payload;
  } catch (err) {
    if (err instanceof errors.JWTExpired) throw new LtiRefusal('expired', 'the id_token has expired: launch again from the LMS');
    if (err instanceof errors.JWTClaimValidationFailed) {
      const what: Record<string, [string, string]> = {
        iss: ['iss', `the id_token's issuer (iss) is not the platform's (${platform.issuer})`],
        aud: ['aud', `the id_token's audience (aud) does not include Folio's client id on this platform (${platform.clientId})`],
        iat: ['iat', "the id_token's issue time (iat) is in the future"],
        nbf: ['iat', 'the id_token is not valid yet (nbf)'],
      };
      const [reason, message] = what[err.claim] ?? ['claims', `the id_token's claim ${err.claim} is missing or invalid`];
      throw new LtiRefusal(reason, message);
    }
    if (err instanceof errors.JWSSignatureVerificationFailed) throw new LtiRefusal('signature', "the id_token's signature does not verify with the platform's keys");
    if (err instanceof errors.JWKSNoMatchingKey) throw new LtiRefusal('signature', "the id_token's key (kid) is not among the platform's keys");
    if (err instanceof errors.JOSEAlgNotAllowed) throw new LtiRefusal('alg', 'the id_token is not signed with RS256');
    if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || (err instanceof Error && !(err instanceof errors.JOSEError))) {
      throw new LtiRefusal('jwks', `the platform's keys could not be fetched from ${platform.jwksUrl}: try again, or ask the LMS administrator`);
    }
    throw new LtiRefusal('id_token', `the id_token is not valid (${(err as Error).message})`);
  }
}

export interface Launch {
  sub: string;
  name: string | undefined;
  email: string | undefined;
  deploymentId: string;
  targetLinkUri: string;
  book: RegisteredBook;
  context: { id: string; title: string | undefined; label: string | undefined } | undefined;
  /** The course staff role the roles claim gives, or undefined for a learner (or none). */
  staff: StaffRole | undefined;
  learner: boolean;
  roles: string[];
}

const text = (value: unknown): string | undefined => (typeof value === 'string' && value.length > 0 ? value : undefined);

/** The book a launch's target is a page of: the custom parameter `book` among the books on its origin, else the only one. */
function bookOf(targetLinkUri: string, custom: unknown, books: BookRegistry): RegisteredBook {
  let url: URL;
  try {
    url = new URL(targetLinkUri);
  } catch {
    throw new LtiRefusal('target_link_uri', `the target_link_uri "${targetLinkUri}" is not an absolute URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new LtiRefusal('target_link_uri', `the target_link_uri "${targetLinkUri}" is not an http(s) URL`);
  const at = books.booksAt(url.origin);
  if (at.length === 0) throw new LtiRefusal('target_link_uri', `the target_link_uri "${targetLinkUri}" is not on an allowed origin of any book: add ${url.origin} to the book with "folio books origins add"`);
  const wanted = custom !== null && typeof custom === 'object' ? text((custom as Record<string, unknown>)['book']) : undefined;
  if (wanted !== undefined) {
    const book = at.find((b) => b.id === wanted);
    if (!book) throw new LtiRefusal('target_link_uri', `the custom parameter book="${wanted}" names no book on ${url.origin}`);
    return book;
  }
  if (at.length > 1) throw new LtiRefusal('target_link_uri', `several books are on ${url.origin} (${at.map((b) => b.id).join(', ')}): set the custom parameter book=ID on the LMS link`);
  return at[0]!;
}

const staffRoles: Record<string, StaffRole> = { Instructor: 'instructor', ContentDeveloper: 'instructor', Administrator: 'instructor', TeachingAssistant: 'ta' };
const lisPrefixes = ['http://purl.imsglobal.org/vocab/lis/v2/membership', 'http://purl.imsglobal.org/vocab/lis/v2/institution/person'];

/** A role's name when it is a context or institution role (full URI, a sub-role's too) or a short one: `…membership#Instructor` → Instructor. */
function roleName(role: string): string | undefined {
  const hash = role.indexOf('#');
  if (hash < 0) return role.includes('/') || role.includes(':') ? undefined : role;
  return lisPrefixes.some((p) => role.startsWith(p)) ? role.slice(hash + 1) : undefined;
}

/** Maps the roles claim: a staff role (instructor over ta) and whether the user is a learner. */
export function mappedRoles(roles: readonly string[]): { staff: StaffRole | undefined; learner: boolean } {
  const names = roles.map(roleName).filter((r) => r !== undefined);
  const staff = names.some((n) => staffRoles[n] === 'instructor') ? 'instructor' : names.some((n) => staffRoles[n] === 'ta') ? 'ta' : undefined;
  return { staff, learner: names.includes('Learner') };
}

/** Verifies a launch's id_token for `platform`, with the nonce its login stored; the launch, or an LtiRefusal. */
export async function verifyLaunch(idToken: string, platform: LtiPlatform, nonce: string, books: BookRegistry): Promise<Launch> {
  const payload = await verifiedPayload(idToken, platform);
  const aud = payload.aud;
  if (Array.isArray(aud) && aud.length > 1 && payload['azp'] !== platform.clientId) {
    throw new LtiRefusal('azp', `the id_token has several audiences, and its authorized party (azp) is not Folio's client id (${platform.clientId})`);
  }
  if (payload['azp'] !== undefined && payload['azp'] !== platform.clientId) throw new LtiRefusal('azp', `the id_token's authorized party (azp) is not Folio's client id (${platform.clientId})`);
  if (payload['nonce'] !== nonce) throw new LtiRefusal('nonce', 'the id_token\'s nonce is not the one of this login (a replayed launch?): launch again from the LMS');
  const deploymentId = payload[ltiClaims.deploymentId];
  if (typeof deploymentId !== 'string' || !platform.deployments.includes(deploymentId)) {
    throw new LtiRefusal('deployment_id', `the deployment ${JSON.stringify(deploymentId ?? null)} is not registered for this platform: add it with "folio lti platforms add … --deployment ID"`);
  }
  const version = payload[ltiClaims.version];
  if (version !== '1.3.0') throw new LtiRefusal('version', `the LTI version is ${JSON.stringify(version ?? null)}: Folio speaks 1.3.0`);
  const messageType = payload[ltiClaims.messageType];
  if (messageType !== 'LtiResourceLinkRequest') throw new LtiRefusal('message_type', `the message type ${JSON.stringify(messageType ?? null)} is not one Folio takes (LtiResourceLinkRequest)`);
  const targetLinkUri = text(payload[ltiClaims.targetLinkUri]);
  if (!targetLinkUri) throw new LtiRefusal('target_link_uri', 'the id_token has no target_link_uri');
  const book = bookOf(targetLinkUri, payload[ltiClaims.custom], books);
  const sub = text(payload.sub);
  if (!sub) throw new LtiRefusal('sub', 'the launch names no user (sub): anonymous launches are not supported');
  const rolesClaim = payload[ltiClaims.roles];
  const roles = Array.isArray(rolesClaim) ? rolesClaim.filter((r): r is string => typeof r === 'string') : [];
  const contextClaim = payload[ltiClaims.context] as Record<string, unknown> | undefined;
  const contextId = contextClaim && typeof contextClaim === 'object' ? text(contextClaim['id']) : undefined;
  const context = contextId === undefined ? undefined : { id: contextId, title: text(contextClaim!['title']), label: text(contextClaim!['label']) };
  const name = text(payload['name']) ?? ([text(payload['given_name']), text(payload['family_name'])].filter(Boolean).join(' ') || undefined);
  return { sub, name: name?.slice(0, 200), email: text(payload['email'])?.slice(0, 254), deploymentId, targetLinkUri, book, context, roles, ...mappedRoles(roles) };
}

/** The target page with the hand-off code as its fragment (replacing any fragment it had). */
export function handoffTarget(targetLinkUri: string, code: string): string {
  const url = new URL(targetLinkUri);
  url.hash = `folio-handoff=${code}`;
  return url.href;
}
