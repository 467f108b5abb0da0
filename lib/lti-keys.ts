import { desc, gt, isNull, lt, or } from 'drizzle-orm';
import { createCipheriv, createDecipheriv, createPrivateKey, generateKeyPair, randomBytes, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type { Database, Queries } from '../db/index.js';
import { qb, rows, select } from '../db/query.js';
import { ltiKeys } from '../db/schema.js';
import { deriveKey, keyPurposes } from './keys.js';

/**
 * Folio's own keys as an LTI 1.3 tool: RSA 2048-bit, RS256, each with a random `kid`. The public half is published at
 * GET /lti/jwks; the private half signs what Folio sends platforms (client assertions for the Advantage services'
 * tokens, deep linking responses) and is stored encrypted (AES-256-GCM with a key derived from the server secret,
 * the `kid` as associated data), never in clear.
 *
 * The signing key is the newest key not retired, made on first need. `rotateKeys` makes a new one and retires the
 * old: a retired key stays published for `retiredKeyGraceMs`, as long as anything signed with it may still be
 * checked, then leaves the JWKS and is deleted at the next rotation.
 */

/** The longest life of anything Folio signs with these keys (client assertions and deep linking responses live minutes). */
export const signedTokenLifetimeMs = 60 * 60_000;
/** Clock skew allowed between Folio and a platform. */
export const clockSkewMs = 5 * 60_000;
/** How long a retired key stays in the JWKS: a token signed just before the rotation verifies until it expires. */
export const retiredKeyGraceMs = signedTokenLifetimeMs + clockSkewMs;

export const signingAlgorithm = 'RS256';

/** A public key as the JWKS lists it. */
export interface PublicJwk {
  kty: 'RSA';
  n: string;
  e: string;
  kid: string;
  alg: 'RS256';
  use: 'sig';
}

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicJwk: PublicJwk;
}

/** The stored private key cannot be decrypted: FOLIO_SECRET changed since it was made (or the row was altered). */
export class LtiKeyError extends Error {
  override name = 'LtiKeyError';
}

const generateRsa = promisify(generateKeyPair);

/** A new key pair: its kid, public JWK and private key (PKCS#8 DER). */
async function newKeyPair(): Promise<{ kid: string; publicJwk: PublicJwk; privateDer: Buffer }> {
  const { publicKey, privateKey } = await generateRsa('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
  const kid = randomBytes(16).toString('base64url');
  const { n, e } = publicKey.export({ format: 'jwk' }) as { n: string; e: string };
  return { kid, publicJwk: { kty: 'RSA', n, e, kid, alg: signingAlgorithm, use: 'sig' }, privateDer: privateKey.export({ format: 'der', type: 'pkcs8' }) };
}

/** `v1.` then base64url of the 12-byte IV, the ciphertext and the 16-byte tag, dot-separated. */
export function encryptPrivateKey(secret: string, kid: string, der: Buffer): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', deriveKey(secret, keyPurposes.ltiKeys), iv).setAAD(Buffer.from(kid));
  const sealed = Buffer.concat([cipher.update(der), cipher.final()]);
  return ['v1', iv, sealed, cipher.getAuthTag()].map((part) => (typeof part === 'string' ? part : part.toString('base64url'))).join('.');
}

export function decryptPrivateKey(secret: string, kid: string, stored: string): KeyObject {
  const [version, iv, sealed, tag] = stored.split('.');
  try {
    if (version !== 'v1' || iv === undefined || sealed === undefined || tag === undefined) throw new Error('unknown format');
    const decipher = createDecipheriv('aes-256-gcm', deriveKey(secret, keyPurposes.ltiKeys), Buffer.from(iv, 'base64url')).setAAD(Buffer.from(kid));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    const der = Buffer.concat([decipher.update(Buffer.from(sealed, 'base64url')), decipher.final()]);
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } catch {
    throw new LtiKeyError(
      `Folio's LTI private key ${kid} cannot be decrypted with this server secret (FOLIO_SECRET changed since it was made?): run "folio lti keys rotate" to make a new key, then update nothing in the LMS (it reads /lti/jwks)`,
    );
  }
}

const keyColumns = { kid: ltiKeys.kid, publicJwk: ltiKeys.publicJwk, privateKey: ltiKeys.privateKey, createdAt: ltiKeys.createdAt, retiredAt: ltiKeys.retiredAt };
const currentKey = select(keyColumns).from(ltiKeys).where(isNull(ltiKeys.retiredAt)).orderBy(desc(ltiKeys.createdAt), desc(ltiKeys.kid)).limit(1);
/** Lock for changes to the keys (PostgreSQL: two processes making the first key make one). */
const keysLock = ['lti-keys'];

async function storedCurrent(db: Queries) {
  return (await rows(db, currentKey))[0];
}

/** The key Folio signs with, made (and stored) on first need. */
export async function signingKey(db: Database, secret: string, now = Date.now()): Promise<SigningKey> {
  let row = await storedCurrent(db);
  if (!row) {
    const made = await newKeyPair();
    row = await db.write(async (tx) => {
      const raced = await storedCurrent(tx);
      if (raced) return raced;
      const fresh = { kid: made.kid, publicJwk: JSON.stringify(made.publicJwk), privateKey: encryptPrivateKey(secret, made.kid, made.privateDer), createdAt: now, retiredAt: null };
      await tx.run(qb.insert(ltiKeys).values(fresh));
      return fresh;
    }, keysLock);
  }
  return { kid: row.kid, privateKey: decryptPrivateKey(secret, row.kid, row.privateKey), publicJwk: JSON.parse(row.publicJwk) as PublicJwk };
}

export interface Rotation {
  /** The new signing key's kid. */
  kid: string;
  /** The kids retired now (published until `publishedUntil`). */
  retired: string[];
  publishedUntil: number;
  /** The kids deleted: retired more than the grace period ago. */
  deleted: string[];
}

/** Makes a new signing key, retires the current one (published for the grace period still) and deletes keys retired longer ago. */
export async function rotateKeys(db: Database, secret: string, now = Date.now()): Promise<Rotation> {
  const made = await newKeyPair();
  return db.write(async (tx) => {
    const retired = (await rows(tx, select({ kid: ltiKeys.kid }).from(ltiKeys).where(isNull(ltiKeys.retiredAt)))).map((r) => r.kid);
    const expired = lt(ltiKeys.retiredAt, now - retiredKeyGraceMs);
    const deleted = (await rows(tx, select({ kid: ltiKeys.kid }).from(ltiKeys).where(expired))).map((r) => r.kid);
    await tx.run(qb.delete(ltiKeys).where(expired));
    await tx.run(qb.update(ltiKeys).set({ retiredAt: now }).where(isNull(ltiKeys.retiredAt)));
    await tx.run(qb.insert(ltiKeys).values({ kid: made.kid, publicJwk: JSON.stringify(made.publicJwk), privateKey: encryptPrivateKey(secret, made.kid, made.privateDer), createdAt: now, retiredAt: null }));
    return { kid: made.kid, retired: retired.sort(), publishedUntil: now + retiredKeyGraceMs, deleted: deleted.sort() };
  }, keysLock);
}

/** The public keys to publish: the signing key first, then keys retired less than the grace period ago, the latest retired first. */
export async function publishedKeys(db: Queries, now = Date.now()): Promise<PublicJwk[]> {
  const live = or(isNull(ltiKeys.retiredAt), gt(ltiKeys.retiredAt, now - retiredKeyGraceMs));
  const found = await rows(db, select({ publicJwk: ltiKeys.publicJwk, createdAt: ltiKeys.createdAt, retiredAt: ltiKeys.retiredAt }).from(ltiKeys).where(live));
  // The signing key (not retired) first, then the most recently retired; ties by creation.
  const order = (r: (typeof found)[number]) => [r.retiredAt === null ? Infinity : Number(r.retiredAt), Number(r.createdAt)] as const;
  found.sort((a, b) => {
    const [x, y] = [order(a), order(b)];
    return y[0] - x[0] || y[1] - x[1];
  });
  return found.map((r) => JSON.parse(r.publicJwk) as PublicJwk);
}

/** The JWKS document of GET /lti/jwks, making the first key if there is none yet. */
export async function jwks(db: Database, secret: string, now = Date.now()): Promise<{ keys: PublicJwk[] }> {
  const keys = await publishedKeys(db, now);
  if (keys.length > 0) return { keys };
  await signingKey(db, secret, now);
  return { keys: await publishedKeys(db, now) };
}

