import { and, asc, eq } from 'drizzle-orm';
import type { Database, Queries } from './index.js';
import { first, qb, rows, select } from './query.js';
import { ltiPlatforms } from './schema.js';

/**
 * The LTI 1.3 platforms (LMSs) an administrator registered (`folio lti platforms …`): each is keyed by its issuer and
 * the client id it gave Folio, with its endpoints and the deployment ids Folio accepts from it. Launches (later) are
 * refused from any other.
 */

export interface LtiPlatform {
  issuer: string;
  clientId: string;
  /** The platform's OIDC authorization endpoint. */
  authUrl: string;
  tokenUrl: string;
  jwksUrl: string;
  deployments: string[];
  createdAt: number;
}

export type NewLtiPlatform = Omit<LtiPlatform, 'createdAt'>;

/** A platform's registration is not acceptable: `field` names the value (as the CLI's option) and the message says why. */
export class LtiPlatformError extends Error {
  override name = 'LtiPlatformError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export class LtiPlatformExistsError extends Error {
  override name = 'LtiPlatformExistsError';
}

/** Hosts where plain http is allowed (development and tests): SPEC §9, "Platform URLs must be https, except on loopback addresses". */
const loopbackHosts = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * Checks a platform URL (issuer or endpoint): an absolute https URL without credentials or fragment, or http on a
 * loopback host. Returns it as given (an issuer is compared with the id_token's `iss` exactly, so it is not rewritten).
 */
export function platformUrl(field: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new LtiPlatformError(field, `${field} "${value}" is not an absolute URL (e.g. https://lms.example.edu/…)`);
  }
  const loopback = loopbackHosts.has(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new LtiPlatformError(field, `${field} "${value}" must be an https URL (plain http only on 127.0.0.1, ::1 or localhost, for development)`);
  }
  if (url.username || url.password) throw new LtiPlatformError(field, `${field} "${value}" must not carry a user name or password`);
  if (url.hash || value.includes('#')) throw new LtiPlatformError(field, `${field} "${value}" must not have a fragment (#…)`);
  return value;
}

/** The longest client or deployment id accepted (LTI 1.3 Core: deployment_id is at most 255 ASCII characters). */
const maxIdLength = 255;

function identifier(field: string, value: string): string {
  if (value.length === 0 || value.length > maxIdLength || value.trim() !== value || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new LtiPlatformError(field, `${field} "${value}" must be 1-${maxIdLength} characters, without control characters or surrounding spaces`);
  }
  return value;
}

/** A registration checked: every URL by `platformUrl`, ids non-empty, at least one deployment (repeats dropped). */
export function checkedPlatform(platform: NewLtiPlatform): NewLtiPlatform {
  const deployments = [...new Set(platform.deployments.map((d) => identifier('--deployment', d)))];
  if (deployments.length === 0) throw new LtiPlatformError('--deployment', 'a platform needs at least one --deployment (the deployment id the LMS shows for Folio)');
  return {
    issuer: platformUrl('--issuer', platform.issuer),
    clientId: identifier('--client-id', platform.clientId),
    authUrl: platformUrl('--auth-url', platform.authUrl),
    tokenUrl: platformUrl('--token-url', platform.tokenUrl),
    jwksUrl: platformUrl('--jwks-url', platform.jwksUrl),
    deployments,
  };
}

const p = () => ({
  issuer: ltiPlatforms.issuer,
  clientId: ltiPlatforms.clientId,
  authUrl: ltiPlatforms.authUrl,
  tokenUrl: ltiPlatforms.tokenUrl,
  jwksUrl: ltiPlatforms.jwksUrl,
  deployments: ltiPlatforms.deployments,
  createdAt: ltiPlatforms.createdAt,
});

type StoredPlatform = Omit<LtiPlatform, 'deployments'> & { deployments: string };
const toPlatform = (row: StoredPlatform): LtiPlatform => ({ ...row, deployments: JSON.parse(row.deployments) as string[] });

/** Registers a platform (checked by `checkedPlatform`: LtiPlatformError). Throws LtiPlatformExistsError if its issuer and client id are registered. */
export async function addPlatform(db: Database, platform: NewLtiPlatform, now = Date.now()): Promise<LtiPlatform> {
  const checked = checkedPlatform(platform);
  const row = { ...checked, deployments: JSON.stringify(checked.deployments), createdAt: now };
  const added = await db.write((tx) => tx.run(qb.insert(ltiPlatforms).values(row).onConflictDoNothing()));
  if (added === 0) throw new LtiPlatformExistsError(`a platform with issuer ${checked.issuer} and client id ${checked.clientId} is already registered`);
  return { ...checked, createdAt: now };
}

/** Every registered platform, by issuer then client id. */
export async function listPlatforms(db: Queries): Promise<LtiPlatform[]> {
  return (await rows(db, select(p()).from(ltiPlatforms).orderBy(asc(ltiPlatforms.issuer), asc(ltiPlatforms.clientId)))).map(toPlatform);
}

export async function findPlatform(db: Queries, issuer: string, clientId: string): Promise<LtiPlatform | undefined> {
  const row = await first(db, select(p()).from(ltiPlatforms).where(and(eq(ltiPlatforms.issuer, issuer), eq(ltiPlatforms.clientId, clientId))));
  return row && toPlatform(row);
}

/** Removes a platform's registration; false if there was none. */
export async function removePlatform(db: Database, issuer: string, clientId: string): Promise<boolean> {
  const removed = await db.write((tx) => tx.run(qb.delete(ltiPlatforms).where(and(eq(ltiPlatforms.issuer, issuer), eq(ltiPlatforms.clientId, clientId)))));
  return removed > 0;
}
