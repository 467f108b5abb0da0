import { Signer, type UnsignResult } from '@fastify/cookie';

/**
 * The session cookie's signer (HMAC-SHA256, @fastify/cookie's), remembering recent results both ways:
 * @fastify/session checks the cookie's signature on every request and signs the id again for every restored
 * session — two HMACs a request, ~6 % of the event loop of a cookie-session write in bench/. Only what the real
 * signer computed here is remembered (ids this process signed, cookies whose signature checked out), so a forged
 * or altered cookie always meets the real check; each memory keeps at most `size` entries, the oldest leaving first.
 */
export class RememberingSigner {
  private readonly signer: Signer;
  private readonly signed = new Map<string, string>();
  private readonly verified = new Map<string, UnsignResult>();

  constructor(
    secret: string,
    private readonly size = 10_000,
  ) {
    this.signer = new Signer(secret, 'sha256');
  }

  sign(value: string): string {
    let signed = this.signed.get(value);
    if (signed === undefined) remember(this.signed, value, (signed = this.signer.sign(value)), this.size);
    return signed;
  }

  unsign(signedValue: string): UnsignResult {
    const known = this.verified.get(signedValue);
    if (known) return known;
    const result = this.signer.unsign(signedValue);
    if (result.valid) remember(this.verified, signedValue, result, this.size);
    return result;
  }

  /** How many results are remembered (signed ids, verified cookies). */
  get remembered(): { signed: number; verified: number } {
    return { signed: this.signed.size, verified: this.verified.size };
  }
}

function remember<V>(memory: Map<string, V>, key: string, value: V, size: number): void {
  if (memory.size >= size) memory.delete(memory.keys().next().value!);
  memory.set(key, value);
}
