import { Signer, type UnsignResult } from '@fastify/cookie';
import { BoundedMap } from './cache.js';

/**
 * The session cookie's signer (HMAC-SHA256, @fastify/cookie's), remembering the cookies whose signature checked
 * out: every request with a cookie has it checked, and an HMAC is a good part of such a request's cost (bench/).
 * Only strings the real signer checked are remembered, so a forged or altered cookie always meets the real check.
 * At most `size` cookies are kept, the oldest leaving first; one signed with an older secret is not remembered
 * (`renew`: the caller signs its value anew).
 */
export class RememberingSigner {
  private readonly signer: Signer;
  /** Checked cookie → its value, oldest first. */
  private readonly checked: BoundedMap<string, string>;

  /** `secrets`: the one to sign with, then older ones still accepted (their cookies check out with `renew`). */
  constructor(secrets: string | string[], size = 10_000) {
    this.signer = new Signer(secrets, 'sha256');
    this.checked = new BoundedMap(size);
  }

  sign(value: string): string {
    return this.signer.sign(value);
  }

  unsign(signedValue: string): UnsignResult {
    const value = this.checked.get(signedValue);
    if (value !== undefined) return { valid: true, renew: false, value };
    const result = this.signer.unsign(signedValue);
    if (result.valid && !result.renew) this.checked.set(signedValue, result.value);
    return result;
  }

  /** How many checked cookies are remembered. */
  get remembered(): number {
    return this.checked.size;
  }
}
