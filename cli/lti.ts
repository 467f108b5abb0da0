import type { LtiPlatform } from '../db/lti.js';
import type { PublicJwk, Rotation } from '../lib/lti-keys.js';
import { ltiScopes } from '../lib/lti-services.js';
import { table } from './courses.js';

/** `folio lti …`: what the commands print. */

/** A platform as `folio lti platforms list --json` gives it: as stored, its time in ISO 8601. */
export type ListedPlatform = Omit<LtiPlatform, 'createdAt'> & { createdAt: string };

export function listedPlatform(platform: LtiPlatform): ListedPlatform {
  const { createdAt, ...rest } = platform;
  return { ...rest, createdAt: new Date(createdAt).toISOString() };
}

/** The table `folio lti platforms list` prints. */
export function platformTable(platforms: readonly ListedPlatform[]): string {
  return table([
    ['ISSUER', 'CLIENT ID', 'DEPLOYMENTS', 'AUTH URL', 'TOKEN URL', 'JWKS URL'],
    ...platforms.map((p) => [p.issuer, p.clientId, p.deployments.join(','), p.authUrl, p.tokenUrl, p.jwksUrl]),
  ]);
}

/** The scopes Folio may ask platforms for: Assignment and Grade Services, and Names and Role Provisioning Services. */
export const requestedScopes = [ltiScopes.lineitem, ltiScopes.score, ltiScopes.resultReadonly, ltiScopes.memberships] as const;

/** What an LMS administrator pastes in when registering Folio as an LTI 1.3 tool (`folio lti tool-info --json`). */
export interface ToolInfo {
  loginUrl: string;
  redirectUrl: string;
  targetLinkUrl: string;
  deepLinkingUrl: string;
  jwksUrl: string;
  scopes: string[];
  publicJwk: PublicJwk;
}

export function toolInfo(origin: string, publicJwk: PublicJwk): ToolInfo {
  const launch = `${origin}/lti/launch`;
  return { loginUrl: `${origin}/lti/login`, redirectUrl: launch, targetLinkUrl: launch, deepLinkingUrl: launch, jwksUrl: `${origin}/lti/jwks`, scopes: [...requestedScopes], publicJwk };
}

/** The text `folio lti tool-info` prints. */
export function describeToolInfo(info: ToolInfo): string {
  return [
    'Register Folio in the LMS as an LTI 1.3 tool with these values:',
    '',
    table([
      ['OIDC login initiation URL', info.loginUrl],
      ['Target link URI', info.targetLinkUrl],
      ['Redirect URI', info.redirectUrl],
      ['Deep linking URL', info.deepLinkingUrl],
      ['Public keyset (JWKS) URL', info.jwksUrl],
    ]),
    '',
    'Scopes (services) Folio asks for:',
    ...info.scopes.map((s) => `  ${s}`),
    '',
    `Public key (JWK, kid ${info.publicJwk.kid}), for an LMS that wants the key itself rather than the JWKS URL:`,
    JSON.stringify(info.publicJwk),
    '',
    'Then register the LMS here with the values it shows: folio lti platforms add --issuer … --client-id … --auth-url … --token-url … --jwks-url … --deployment …',
    "Then add links in the LMS: its content selection (Deep Linking) button opens Folio's page picker, or link a book page's URL by hand.",
  ].join('\n');
}

/** What `folio lti keys rotate` prints. */
export function describeRotation(rotation: Rotation): string {
  const lines = [`new signing key ${rotation.kid}`];
  if (rotation.retired.length > 0) lines.push(`retired ${rotation.retired.join(', ')}: still in /lti/jwks until ${new Date(rotation.publishedUntil).toISOString()} (what it signed may be checked until then)`);
  else lines.push('there was no key before');
  if (rotation.deleted.length > 0) lines.push(`deleted ${rotation.deleted.join(', ')} (retired more than 65 minutes ago)`);
  return lines.join('\n');
}
