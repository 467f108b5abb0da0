import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import { platformUrl, type LtiPlatform } from '../db/lti.js';
import type { StaffRole } from '../db/schema.js';
import type { BookRegistry, RegisteredBook } from './book-registry.js';
import { escapeHtml } from './html.js';

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
  /** Assignment and Grade Services: the line item(s) of the link and the scopes granted. */
  ags: 'https://purl.imsglobal.org/spec/lti-ags/claim/endpoint',
  /** Names and Role Provisioning Services: the context's memberships URL. */
  nrps: 'https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice',
  deepLinkingSettings: 'https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings',
} as const;

/** The message types Folio takes: a student's or instructor's launch of a link, and an instructor picking pages (Deep Linking). */
export const messageTypes = ['LtiResourceLinkRequest', 'LtiDeepLinkingRequest'] as const;
export type MessageType = (typeof messageTypes)[number];

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

/** The Assignment and Grade Services a launch offers: the scopes granted, the link's line item and the context's line items (URLs). */
export interface AgsEndpoint {
  scopes: string[];
  lineitem: string | undefined;
  lineitems: string | undefined;
}

/** What a Deep Linking request asks for (its deep_linking_settings claim). */
export interface DeepLinkingSettings {
  /** Where the signed LtiDeepLinkingResponse is posted (by the browser). */
  returnUrl: string;
  acceptTypes: string[];
  acceptMultiple: boolean;
  acceptLineItem: boolean;
  acceptPresentationDocumentTargets: string[];
  /** Opaque data the response must return as it came. */
  data: string | undefined;
  title: string | undefined;
}

interface LaunchCommon {
  sub: string;
  name: string | undefined;
  email: string | undefined;
  deploymentId: string;
  targetLinkUri: string;
  context: { id: string; title: string | undefined; label: string | undefined } | undefined;
  /** The course staff role the roles claim gives, or undefined for a learner (or none). */
  staff: StaffRole | undefined;
  learner: boolean;
  roles: string[];
  /** The Names and Role Provisioning Services memberships URL of the context, when the platform offers it. */
  membershipsUrl: string | undefined;
  /** Service claims Folio ignored (a URL that is not https off loopback), each saying why: the route logs them. */
  warnings: string[];
}

/** A launch of a resource link: a page of a book, or Folio's dashboard (for course staff). */
export interface Launch extends LaunchCommon {
  messageType: 'LtiResourceLinkRequest';
  /** The target is Folio's dashboard (its `book`: the custom parameter `book`, else the only book on this Folio). */
  dashboard: boolean;
  book: RegisteredBook;
  resourceLink: { id: string; title: string | undefined };
  ags: AgsEndpoint | undefined;
}

/** A Deep Linking request: an instructor choosing what to link. `book` when the custom parameter `book` names one. */
export interface DeepLinkingLaunch extends LaunchCommon {
  messageType: 'LtiDeepLinkingRequest';
  book: RegisteredBook | undefined;
  settings: DeepLinkingSettings;
}

const text = (value: unknown): string | undefined => (typeof value === 'string' && value.length > 0 ? value : undefined);
const record = (value: unknown): Record<string, unknown> | undefined => (value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined);
const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);

/** A service URL from a claim, if it is one Folio would call (https, or http on loopback); else undefined, with a warning. */
function serviceUrl(claimName: string, value: unknown, warnings: string[]): string | undefined {
  const url = text(value);
  if (url === undefined) return undefined;
  try {
    return platformUrl(claimName, url);
  } catch (err) {
    warnings.push((err as Error).message);
    return undefined;
  }
}

/** The AGS claim: undefined when absent or when it offers no usable line item URL. */
function agsOf(value: unknown, warnings: string[]): AgsEndpoint | undefined {
  const endpoint = record(value);
  if (!endpoint) return undefined;
  const lineitem = serviceUrl('the AGS lineitem', endpoint['lineitem'], warnings);
  const lineitems = serviceUrl('the AGS lineitems', endpoint['lineitems'], warnings);
  if (!lineitem && !lineitems) return undefined;
  return { scopes: strings(endpoint['scope']), lineitem, lineitems };
}

/** The deep_linking_settings claim, which a Deep Linking request must carry with its return URL. */
function deepLinkingSettingsOf(value: unknown): DeepLinkingSettings {
  const settings = record(value);
  const returnUrl = text(settings?.['deep_link_return_url']);
  if (!settings || !returnUrl) throw new LtiRefusal('deep_linking_settings', 'the Deep Linking request has no deep_linking_settings with a deep_link_return_url');
  try {
    platformUrl('deep_link_return_url', returnUrl);
  } catch (err) {
    throw new LtiRefusal('deep_linking_settings', (err as Error).message);
  }
  return {
    returnUrl,
    acceptTypes: strings(settings['accept_types']),
    acceptMultiple: settings['accept_multiple'] !== false,
    acceptLineItem: settings['accept_lineitem'] !== false,
    acceptPresentationDocumentTargets: strings(settings['accept_presentation_document_targets']),
    data: text(settings['data']),
    title: text(settings['title']),
  };
}

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

/** The book the custom parameter `book` names (a Deep Linking request's target is Folio's own URL, not a book page). */
function namedBook(custom: unknown, books: BookRegistry): RegisteredBook | undefined {
  const wanted = text(record(custom)?.['book']);
  if (wanted === undefined) return undefined;
  const book = books.get(wanted);
  if (!book) throw new LtiRefusal('book', `the custom parameter book="${wanted}" names no book on this Folio`);
  return book;
}

/** Whether a target_link_uri is Folio's dashboard (`dashboardUrl`: its address on Folio's public origin). */
export function isDashboardTarget(targetLinkUri: string, dashboardUrl: string): boolean {
  try {
    const url = new URL(targetLinkUri);
    const dashboard = new URL(dashboardUrl);
    return url.origin === dashboard.origin && (url.pathname === dashboard.pathname || `${url.pathname}/` === dashboard.pathname);
  } catch {
    return false;
  }
}

/** The book of a dashboard link's course: the custom parameter `book`, else the only book on this Folio. */
function dashboardBook(custom: unknown, books: BookRegistry): RegisteredBook {
  const named = namedBook(custom, books);
  if (named) return named;
  const all = books.list();
  if (all.length !== 1) throw new LtiRefusal('book', `${all.length === 0 ? 'no book is' : `several books are (${all.map((b) => b.id).join(', ')})`} on this Folio: set the custom parameter book=ID on the LMS link to the dashboard`);
  return all[0]!;
}

/**
 * Verifies a launch's id_token for `platform`, with the nonce its login stored; the launch, or an LtiRefusal.
 * `dashboardUrl`: Folio's dashboard, which a resource link may target too (for course staff).
 */
export async function verifyLaunch(idToken: string, platform: LtiPlatform, nonce: string, books: BookRegistry, dashboardUrl?: string): Promise<Launch | DeepLinkingLaunch> {
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
  if (!messageTypes.includes(messageType as MessageType)) {
    throw new LtiRefusal('message_type', `the message type ${JSON.stringify(messageType ?? null)} is not one Folio takes (${messageTypes.join(' or ')})`);
  }
  const targetLinkUri = text(payload[ltiClaims.targetLinkUri]);
  if (!targetLinkUri) throw new LtiRefusal('target_link_uri', 'the id_token has no target_link_uri');
  const sub = text(payload.sub);
  if (!sub) throw new LtiRefusal('sub', 'the launch names no user (sub): anonymous launches are not supported');
  const roles = strings(payload[ltiClaims.roles]);
  const contextClaim = record(payload[ltiClaims.context]);
  const contextId = text(contextClaim?.['id']);
  const context = contextId === undefined ? undefined : { id: contextId, title: text(contextClaim!['title']), label: text(contextClaim!['label']) };
  const name = text(payload['name']) ?? ([text(payload['given_name']), text(payload['family_name'])].filter(Boolean).join(' ') || undefined);
  const warnings: string[] = [];
  const membershipsUrl = serviceUrl('the NRPS context_memberships_url', record(payload[ltiClaims.nrps])?.['context_memberships_url'], warnings);
  const common: LaunchCommon = { sub, name: name?.slice(0, 200), email: text(payload['email'])?.slice(0, 254), deploymentId, targetLinkUri, context, roles, ...mappedRoles(roles), membershipsUrl, warnings };
  if (messageType === 'LtiDeepLinkingRequest') {
    return { ...common, messageType, book: namedBook(payload[ltiClaims.custom], books), settings: deepLinkingSettingsOf(payload[ltiClaims.deepLinkingSettings]) };
  }
  const dashboard = dashboardUrl !== undefined && isDashboardTarget(targetLinkUri, dashboardUrl);
  const book = dashboard ? dashboardBook(payload[ltiClaims.custom], books) : bookOf(targetLinkUri, payload[ltiClaims.custom], books);
  const link = record(payload[ltiClaims.resourceLink]);
  const linkId = text(link?.['id']);
  if (!linkId) throw new LtiRefusal('resource_link', 'the launch has no resource_link id');
  return { ...common, messageType: 'LtiResourceLinkRequest', dashboard, book, resourceLink: { id: linkId, title: text(link!['title']) }, ags: agsOf(payload[ltiClaims.ags], warnings) };
}

/** The target page with the hand-off code as its fragment (replacing any fragment it had). */
export function handoffTarget(targetLinkUri: string, code: string): string {
  const url = new URL(targetLinkUri);
  url.hash = `folio-handoff=${code}`;
  return url.href;
}

/**
 * The page a dashboard launch shows inside the LMS's frame (a framed page cannot hold the dashboard's first-party
 * session: the browser keeps no cookie for it there, and the dashboard refuses framing): a link that opens the
 * dashboard in a window of its own, carrying the single-use dashboard code in its fragment.
 */
export function dashboardLaunchPage(open: string, courseTitle: string): string {
  return (
    `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Folio: the course dashboard</title></head><body>` +
    `<h1>The dashboard of ${escapeHtml(courseTitle)}</h1>` +
    `<p>The dashboard opens in a window of its own, where you stay logged in.</p>` +
    `<p><a href="${escapeHtml(open)}" target="_blank" rel="noopener">Open the dashboard</a></p>` +
    `<p>The link works once, within 5 minutes: after that, open the dashboard's link in your course again.</p></body></html>\n`
  );
}
