import { and, asc, eq, gt, lte, ne } from 'drizzle-orm';
import { createHash, randomBytes } from 'node:crypto';
import type { ServerMetadata } from 'openid-client';
import type { Database, Queries } from './index.js';
import { first, qb, rows, select } from './query.js';
import { oidcIdentities, oidcProviders, oidcStates, users } from './schema.js';
import { createPasswordlessAccount, deleteUser, findUserById, type UserRow } from './users.js';

/**
 * Signing in with an identity provider (routes/oidc.ts, lib/oidc.ts): the providers an administrator registered
 * (`folio auth providers …`), the sign-ins awaiting their callback (`state`, `nonce` and PKCE verifier: single use,
 * 10 minutes, bound server-side so no cookie is needed), and who a provider's user (issuer, `sub`) is. An email address
 * never links two accounts: only (issuer, `sub`) does, or a logged-in person linking on purpose.
 */

export interface OidcProvider {
  /** Folio's name for it: in the callback URL and on the login form's button. */
  id: string;
  issuer: string;
  clientId: string;
  /** Sealed (lib/oidc.ts sealClientSecret): never shown. */
  clientSecret: string;
  title: string;
  /** As discovered when it was added. */
  metadata: ServerMetadata;
  /** Email domains (lower case) a sign-in must have, verified; empty: any. */
  allowedDomains: string[];
  /** false: a sign-in only finds accounts that linked this provider (it makes none). */
  createAccounts: boolean;
  createdAt: number;
}

export class OidcProviderExistsError extends Error {
  override name = 'OidcProviderExistsError';
}

/** A provider id: as a book id (lower-case letters, digits, "-" and "_"). */
export const isProviderId = (id: string) => /^[a-z0-9][a-z0-9_-]{0,63}$/.test(id);

const columns = () => ({
  id: oidcProviders.id,
  issuer: oidcProviders.issuer,
  clientId: oidcProviders.clientId,
  clientSecret: oidcProviders.clientSecret,
  title: oidcProviders.title,
  metadata: oidcProviders.metadata,
  allowedDomains: oidcProviders.allowedDomains,
  createAccounts: oidcProviders.createAccounts,
  createdAt: oidcProviders.createdAt,
});
type StoredProvider = { [K in keyof OidcProvider]: K extends 'metadata' | 'allowedDomains' ? string : K extends 'createAccounts' ? 0 | 1 | boolean : OidcProvider[K] };
const toProvider = (row: StoredProvider): OidcProvider => ({
  ...row,
  metadata: JSON.parse(row.metadata) as ServerMetadata,
  allowedDomains: JSON.parse(row.allowedDomains) as string[],
  createAccounts: Boolean(row.createAccounts),
});

/** Registers a provider (its secret sealed already); OidcProviderExistsError when the id is taken. */
export async function addProvider(db: Database, provider: Omit<OidcProvider, 'createdAt'>, now = Date.now()): Promise<OidcProvider> {
  const row = { ...provider, metadata: JSON.stringify(provider.metadata), allowedDomains: JSON.stringify(provider.allowedDomains), createAccounts: (provider.createAccounts ? 1 : 0) as 0 | 1, createdAt: now };
  const added = await db.write((tx) => tx.run(qb.insert(oidcProviders).values(row).onConflictDoNothing()));
  if (added === 0) throw new OidcProviderExistsError(`an identity provider "${provider.id}" is already registered`);
  return { ...provider, createdAt: now };
}

/** Every provider, by id. */
export async function listProviders(db: Queries): Promise<OidcProvider[]> {
  return (await rows(db, select(columns()).from(oidcProviders).orderBy(asc(oidcProviders.id)))).map(toProvider);
}

export async function findProvider(db: Queries, id: string): Promise<OidcProvider | undefined> {
  const row = await first(db, select(columns()).from(oidcProviders).where(eq(oidcProviders.id, id)));
  return row && toProvider(row);
}

/** Removes a provider; false if there was none. Identities linked through it stay (adding it again brings them back). */
export async function removeProvider(db: Database, id: string): Promise<boolean> {
  return (await db.write((tx) => tx.run(qb.delete(oidcProviders).where(eq(oidcProviders.id, id))))) > 0;
}

/** How long a sign-in waits for its callback. */
export const oidcStateLifetime = 10 * 60_000;

const keyOf = (state: string) => createHash('sha256').update(state).digest('hex');

export interface OidcLogin {
  providerId: string;
  /** The book whose page started it; null for a sign-in on the dashboard. */
  bookId: string | null;
  /** The page to return to: a book page (on an allowed origin of the book), or the dashboard (mode dashboard). */
  returnUrl: string;
  /** signin and link: from a book page (a hand-off code back); dashboard: a sign-in on Folio's own dashboard (its cookie session). */
  mode: 'signin' | 'link' | 'dashboard';
  /** The user linking (mode link). */
  userId: string | null;
}

export interface PendingOidcLogin extends OidcLogin {
  nonce: string;
  codeVerifier: string;
}

/** Records a sign-in: a new `state`, `nonce` and PKCE code verifier (expired sign-ins are removed with it). */
export async function startOidcLogin(db: Database, login: OidcLogin, now = Date.now()): Promise<{ state: string; nonce: string; codeVerifier: string }> {
  const state = randomBytes(32).toString('base64url');
  const nonce = randomBytes(32).toString('base64url');
  const codeVerifier = randomBytes(32).toString('base64url');
  await db.write(async (tx) => {
    await tx.run(qb.delete(oidcStates).where(lte(oidcStates.expiresAt, now)));
    await tx.run(qb.insert(oidcStates).values({ id: keyOf(state), nonce, codeVerifier, ...login, expiresAt: now + oidcStateLifetime, createdAt: now }));
  });
  return { state, nonce, codeVerifier };
}

/** Uses a `state`, once: its sign-in, or undefined when it is unknown, used or expired. Of concurrent uses, one wins. */
export async function takeOidcState(db: Database, state: string, now = Date.now()): Promise<PendingOidcLogin | undefined> {
  const id = keyOf(state);
  return db.write(
    async (tx) => {
      const found = await first(
        tx,
        select({ providerId: oidcStates.providerId, bookId: oidcStates.bookId, returnUrl: oidcStates.returnUrl, mode: oidcStates.mode, userId: oidcStates.userId, nonce: oidcStates.nonce, codeVerifier: oidcStates.codeVerifier })
          .from(oidcStates)
          .where(and(eq(oidcStates.id, id), gt(oidcStates.expiresAt, now))),
      );
      if (!found) return undefined;
      const deleted = await tx.run(qb.delete(oidcStates).where(eq(oidcStates.id, id)));
      return deleted === 0 ? undefined : found;
    },
    [`oidc-state:${id}`],
  );
}

/** Deletes the sign-ins expired at `now`; how many. */
export async function deleteExpiredOidcStates(db: Database, now = Date.now()): Promise<number> {
  return db.write((tx) => tx.run(qb.delete(oidcStates).where(lte(oidcStates.expiresAt, now))));
}

/** What a checked sign-in says of the person. */
export interface Identity {
  issuer: string;
  sub: string;
  providerId: string;
  name: string | undefined;
  email: string | undefined;
  emailVerified: boolean;
}

/** Why a sign-in cannot find or make the account. */
export class IdentityRefusal extends Error {
  override name = 'IdentityRefusal';
  constructor(
    readonly reason: 'linked_elsewhere' | 'no_account' | 'anonymous',
    message: string,
  ) {
    super(message);
  }
}

/** The user an identity (issuer, sub) is linked to, if any. */
export const identityOwner = async (db: Queries, issuer: string, sub: string) => ownerOf(db, issuer, sub);

const ownerOf = async (db: Queries, issuer: string, sub: string) =>
  (await first(db, select({ userId: oidcIdentities.userId }).from(oidcIdentities).where(and(eq(oidcIdentities.issuer, issuer), eq(oidcIdentities.sub, sub)))))?.userId;

/** Keeps the email the provider gave this time (and whether it checked it), for the record. */
async function refresh(db: Database, identity: Identity): Promise<void> {
  await db.run(
    qb
      .update(oidcIdentities)
      .set({ email: identity.email ?? null, emailVerified: identity.emailVerified ? 1 : 0 })
      .where(and(eq(oidcIdentities.issuer, identity.issuer), eq(oidcIdentities.sub, identity.sub))),
  );
}

const identityRow = (identity: Identity, userId: string) => ({
  issuer: identity.issuer,
  sub: identity.sub,
  userId,
  providerId: identity.providerId,
  email: identity.email ?? null,
  emailVerified: (identity.emailVerified ? 1 : 0) as 0 | 1,
  linkedAt: Date.now(),
});

/**
 * The user an identity signs in: the one it is linked to, else (when `createAccounts`) a new account without a password
 * (name and email from the claims), else IdentityRefusal. Of concurrent first sign-ins, one account stays.
 */
export async function signInIdentity(db: Database, identity: Identity, createAccounts: boolean): Promise<{ user: UserRow; created: boolean }> {
  const known = async () => {
    const userId = await ownerOf(db, identity.issuer, identity.sub);
    return userId === undefined ? undefined : findUserById(db, userId);
  };
  const found = await known();
  if (found) {
    await refresh(db, identity);
    return { user: found, created: false };
  }
  if (!createAccounts) throw new IdentityRefusal('no_account', 'this sign-in only works for accounts that linked it: log in with your password first, then link it in your account settings');
  const user = await createPasswordlessAccount(db, identity.providerId, { name: identity.name, email: identity.email });
  const linked = await db.run(qb.insert(oidcIdentities).values(identityRow(identity, user.id)).onConflictDoNothing());
  if (linked > 0) return { user, created: true };
  // Another sign-in of the same person linked theirs first: that one stays.
  await deleteUser(db, user.id);
  const winner = await known();
  if (!winner) throw new Error(`the identity ${identity.sub} of ${identity.issuer} vanished`);
  return { user: winner, created: false };
}

/** Links an identity to `userId` (a logged-in person's choice); IdentityRefusal when it already belongs to another user. */
export async function linkIdentity(db: Database, identity: Identity, userId: string): Promise<{ linked: boolean }> {
  const inserted = await db.run(qb.insert(oidcIdentities).values(identityRow(identity, userId)).onConflictDoNothing());
  if (inserted > 0) return { linked: true };
  const owner = await ownerOf(db, identity.issuer, identity.sub);
  if (owner !== userId) throw new IdentityRefusal('linked_elsewhere', 'this account of the identity provider already signs in to another Folio account: log in to that one, or unlink it there first');
  await refresh(db, identity);
  return { linked: false };
}

export interface LinkedIdentity {
  provider: string;
  issuer: string;
  email: string | undefined;
  emailVerified: boolean;
  linkedAt: number;
}

/** The identities linked to a user, by provider then when. */
export async function identitiesOf(db: Queries, userId: string): Promise<LinkedIdentity[]> {
  const found = await rows(
    db,
    select({ provider: oidcIdentities.providerId, issuer: oidcIdentities.issuer, email: oidcIdentities.email, emailVerified: oidcIdentities.emailVerified, linkedAt: oidcIdentities.linkedAt })
      .from(oidcIdentities)
      .where(eq(oidcIdentities.userId, userId))
      .orderBy(asc(oidcIdentities.providerId), asc(oidcIdentities.linkedAt)),
  );
  return found.map((r) => ({ ...r, email: r.email ?? undefined, emailVerified: Boolean(r.emailVerified) }));
}

/**
 * Unlinks the user's identities of a provider: how many; IdentityRefusal('no_account'…) when that would leave the
 * account no way to log in (no password and no identity of another provider). Checked and done in one transaction.
 */
export async function unlinkIdentity(db: Database, userId: string, providerId: string): Promise<number> {
  return db.write(
    async (tx) => {
      const mine = and(eq(oidcIdentities.userId, userId), eq(oidcIdentities.providerId, providerId));
      const linked = await rows(tx, select({ sub: oidcIdentities.sub }).from(oidcIdentities).where(mine));
      if (linked.length === 0) return 0;
      const password = await first(tx, select({ hash: users.passwordHash }).from(users).where(eq(users.id, userId)));
      const other = await first(tx, select({ sub: oidcIdentities.sub }).from(oidcIdentities).where(and(eq(oidcIdentities.userId, userId), ne(oidcIdentities.providerId, providerId))));
      if (!password?.hash && !other) {
        throw new IdentityRefusal('no_account', `unlinking ${providerId} would leave this account no way to log in: set a password (or link another provider) first`);
      }
      return tx.run(qb.delete(oidcIdentities).where(mine));
    },
    [`oidc-identities:${userId}`],
  );
}
