import { createHmac } from 'node:crypto';
import { deriveKey, keyPurposes } from './keys.js';

/**
 * A user's research pseudonym in a book: HMAC-SHA256(K_book, "user:" + id) as hex, first 16 digits (64 bits), where
 * K_book = HKDF-SHA256(FOLIO_SECRET, salt "folio", info "folio pseudonyms v1 book:" + book). The same user has the
 * same pseudonym in every export of that book; in another book another one, and without the secret the two cannot
 * be linked. The key is not the cookie-signing secret itself.
 */
export function pseudonym(secret: string, book: string, userId: string): string {
  return pseudonymizer(secret, book)(userId);
}

/** `pseudonym` for one book, remembered per user for one export, which meets each user many times (memory grows with users, not rows). */
export function pseudonymizer(secret: string, book: string): (userId: string) => string {
  const key = deriveKey(secret, keyPurposes.pseudonyms + book);
  const known = new Map<string, string>();
  return (userId) => {
    let name = known.get(userId);
    if (name === undefined) known.set(userId, (name = createHmac('sha256', key).update(`user:${userId}`).digest('hex').slice(0, 16)));
    return name;
  };
}
