import { createHmac } from 'node:crypto';

/**
 * A user's research pseudonym: HMAC-SHA256(secret, "user:" + id) as hex, first 16 digits (64 bits). The same
 * user gets the same pseudonym in every export made with the same secret; without the secret it leads nowhere.
 */
export function pseudonym(secret: string, userId: string): string {
  return createHmac('sha256', secret).update(`user:${userId}`).digest('hex').slice(0, 16);
}

/** `pseudonym` remembered per user for one export, which meets each user many times (memory grows with users, not rows). */
export function pseudonymizer(secret: string): (userId: string) => string {
  const known = new Map<string, string>();
  return (userId) => {
    let name = known.get(userId);
    if (name === undefined) known.set(userId, (name = pseudonym(secret, userId)));
    return name;
  };
}
