import { Signer, type UnsignResult } from '@fastify/cookie';

/**
 * The session cookie's signer (HMAC-SHA256, @fastify/cookie's), remembering the cookies whose signature checked
 * out: @fastify/session checks the cookie's signature on every request and then signs the session id again for
 * the restored session — two HMACs a request, ~6 % of the event loop of a cookie-session write in bench/. A
 * remembered cookie answers both: checking that exact string again, and signing its id (with one secret, signing
 * is deterministic: the id's signature is that cookie). Only strings the real signer checked are remembered, so a
 * forged or altered cookie always meets the real check; ids signed for new sessions (every request without a
 * cookie gets one) are not remembered, so they cannot crowd out live ones. At most `size` cookies are kept, the
 * oldest leaving first.
 */
export class RememberingSigner {
  private readonly signer: Signer;
  /** Checked cookie → its id, oldest first. */
  private readonly checked = new Map<string, string>();
  /** Id → its checked cookie (the same entries the other way). */
  private readonly cookies = new Map<string, string>();

  /** `secrets`: the one to sign with, then older ones still accepted (their cookies check out with `renew`). */
  constructor(
    secrets: string | string[],
    private readonly size = 10_000,
  ) {
    this.signer = new Signer(secrets, 'sha256');
  }

  sign(value: string): string {
    return this.cookies.get(value) ?? this.signer.sign(value);
  }

  unsign(signedValue: string): UnsignResult {
    const value = this.checked.get(signedValue);
    if (value !== undefined) return { valid: true, renew: false, value };
    const result = this.signer.unsign(signedValue);
    if (result.valid && !result.renew) this.remember(signedValue, result.value);
    return result;
  }

  /** How many checked cookies are remembered. */
  get remembered(): number {
    return this.checked.size;
  }

  private remember(cookie: string, value: string): void {
    if (this.checked.size >= this.size) {
      const [oldest, id] = this.checked.entries().next().value!;
      this.checked.delete(oldest);
      this.cookies.delete(id);
    }
    this.checked.set(cookie, value);
    this.cookies.set(value, cookie);
  }
}
