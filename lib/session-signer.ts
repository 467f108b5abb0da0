import { Signer, type UnsignResult } from '@fastify/cookie';
import { BoundedMap } from './cache.js';

/**
 * The session cookie's signer (HMAC-SHA256, @fastify/cookie's), remembering the cookies whose signature checked
 * out: @fastify/session checks the cookie of every request that has one, then signs the session id again for the
 * session it restores, and an HMAC is a good part of such a request's cost (bench/). Only strings the real signer
 * checked are remembered, so a forged or altered cookie always meets the real check, and signing an id of such a
 * cookie gives that cookie back; ids of new sessions are signed, not remembered. At most `size` cookies are kept,
 * the oldest leaving first; one signed with an older secret is not remembered (`renew`: its id is signed anew).
 */
export class RememberingSigner {
  private readonly signer: Signer;
  /** Checked cookie → its value, oldest first. */
  private readonly checked: BoundedMap<string, string>;
  /** The id of each checked cookie → that cookie. */
  private readonly cookies: BoundedMap<string, string>;

  /** `secrets`: the one to sign with, then older ones still accepted (their cookies check out with `renew`). */
  constructor(secrets: string | string[], size = 10_000) {
    this.signer = new Signer(secrets, 'sha256');
    this.checked = new BoundedMap(size);
    this.cookies = new BoundedMap(size);
  }

  sign(value: string): string {
    return this.cookies.get(value) ?? this.signer.sign(value);
  }

  unsign(signedValue: string): UnsignResult {
    const value = this.checked.get(signedValue);
    if (value !== undefined) return { valid: true, renew: false, value };
    const result = this.signer.unsign(signedValue);
    if (result.valid && !result.renew) {
      this.checked.set(signedValue, result.value);
      this.cookies.set(result.value, signedValue);
    }
    return result;
  }

  /** How many checked cookies are remembered. */
  get remembered(): number {
    return this.checked.size;
  }
}
