/// <reference path="./oidc-provider-types.d.ts" />
import { exportJWK, generateKeyPair } from 'jose';
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

/**
 * An OpenID Provider for tests and the demo: oidc-provider (a certified OP) with its development login form (any login
 * name, any password), in memory, its signing key made here. Each login name is an account: `sub` is the name, its
 * email `NAME@example.edu` (verified) and its name capitalised, unless `accounts` says otherwise. `signIn` plays a
 * browser without one (a cookie jar over fetch): through the login form and the consent page to the client's redirect.
 */

export interface IdpAccount {
  email?: string | undefined;
  emailVerified?: boolean;
  name?: string;
}

export interface IdpClient {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
}

export interface IdpOptions {
  clients: IdpClient[];
  /** Accounts that differ from the default (by login name). */
  accounts?: Record<string, IdpAccount>;
  /** Listen here (default 127.0.0.1, port 0: any free port). */
  host?: string;
  port?: number;
  /** Serve HTTPS with this certificate (PEM); the issuer is then https://`hostname`:port. */
  tls?: { cert: string | Buffer; key: string | Buffer; hostname: string };
}

export type IdentityProvider = Awaited<ReturnType<typeof startIdentityProvider>>;

export async function startIdentityProvider(options: IdpOptions) {
  const accounts: Record<string, IdpAccount> = { ...options.accounts };
  const server: Server = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }) : createHttpServer();
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const issuer = options.tls ? `https://${options.tls.hostname}:${port}` : `http://${options.host ?? '127.0.0.1'}:${port}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
  const provider = new Provider(issuer, {
    clients: options.clients.map((c) => ({ client_id: c.clientId, client_secret: c.clientSecret, redirect_uris: c.redirectUris, grant_types: ['authorization_code'], response_types: ['code'] })),
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    jwks: { keys: [jwk] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    // The claims of the scopes asked go in the ID token too (as Google's and Entra ID's do).
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: true } },
    // Short lives, as a test or a demo needs (said, so that oidc-provider does not remind of its defaults).
    ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
    findAccount: (_ctx: unknown, id: string) => {
      const account = accounts[id] ?? {};
      const email = 'email' in account ? account.email : `${id}@example.edu`;
      return {
        accountId: id,
        claims: () => ({ sub: id, ...(email ? { email, email_verified: account.emailVerified ?? true } : {}), name: account.name ?? id.charAt(0).toUpperCase() + id.slice(1) }),
      };
    },
  });
  provider.proxy = false;
  server.on('request', provider.callback());

  /**
   * Follows an authorization URL like a browser: logs in as `login` on the development form, consents, and returns the
   * URL the provider sends the browser to at the end (the client's redirect URI with code and state, or an error).
   */
  async function signIn(authUrl: string, login: string): Promise<string> {
    const jar = new Map<string, string>();
    let url = authUrl;
    let form: Record<string, string> | undefined;
    for (let step = 0; step < 20; step++) {
      const res = await fetch(url, {
        method: form ? 'POST' : 'GET',
        redirect: 'manual',
        headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '), ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
        ...(form ? { body: new URLSearchParams(form).toString() } : {}),
      });
      for (const cookie of res.headers.getSetCookie()) {
        const [pair] = cookie.split(';');
        const at = pair!.indexOf('=');
        jar.set(pair!.slice(0, at), pair!.slice(at + 1));
      }
      form = undefined;
      const location = res.headers.get('location');
      if (location) {
        const next = new URL(location, url).href;
        if (!next.startsWith(issuer)) return next;
        url = next;
        continue;
      }
      const html = await res.text();
      const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
      const prompt = /name="prompt" value="([a-z]+)"/.exec(html)?.[1];
      if (res.status !== 200 || !action || !prompt) throw new Error(`the identity provider answered ${res.status} at ${url}: ${html.slice(0, 300)}`);
      url = new URL(action.replace(/&amp;/g, '&'), url).href;
      form = prompt === 'login' ? { prompt, login, password: 'any password' } : { prompt };
    }
    throw new Error(`no redirect back after 20 steps from ${authUrl}`);
  }

  return {
    issuer,
    port,
    accounts,
    signIn,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
