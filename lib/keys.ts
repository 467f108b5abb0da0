import { hkdfSync } from 'node:crypto';

/**
 * Keys for separate purposes, derived from the server secret with HKDF-SHA256 (RFC 5869): a key for one purpose
 * tells nothing about the secret or about another purpose's key. The session cookie is signed with the secret
 * itself (as before keys were derived), so cookies already issued stay valid.
 */
export const keyPurposes = {
  /** Research pseudonyms of one book: the book id follows the label. */
  pseudonyms: 'folio pseudonyms v1 book:',
  /** Encrypts Folio's LTI private keys at rest (AES-256-GCM, lib/lti-keys.ts). */
  ltiKeys: 'folio lti private keys v1',
  /** Signs the token a Deep Linking page carries between the launch and the instructor's choice (HS256, lib/lti-deep-linking.ts). */
  ltiDeepLinking: 'folio lti deep linking v1',
  /** Marks a launch's second step as coming from Folio's page that read the platform's storage (lib/lti-storage.ts). */
  ltiContinuations: 'folio lti launch continuations v1',
  /** Encrypts the client secrets of identity providers at rest (AES-256-GCM, lib/oidc.ts). */
  oidcSecrets: 'folio oidc client secrets v1',
} as const;

/** A 32-byte key for `purpose` (a label of keyPurposes, with its context appended). */
export function deriveKey(secret: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'folio', purpose, 32));
}
