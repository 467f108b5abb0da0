import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const KEY_LENGTH = 32;

function scrypt(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCallback(password.normalize('NFC'), salt, KEY_LENGTH, options, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

interface Parameters {
  N: number;
  r: number;
  p: number;
}

/** scrypt with r=8, p=1 and N=2^cost (OWASP: N=2^17); memory is 128·N·r bytes, so maxmem is raised to fit. */
function parametersFor(cost: number): Parameters {
  return { N: 2 ** cost, r: 8, p: 1 };
}

function options({ N, r, p }: Parameters): ScryptOptions {
  return { N, r, p, maxmem: 256 * N * r };
}

/** Hashes a password as `scrypt$N$r$p$salt$hash` (base64url), so its parameters can be raised later. */
export async function hashPassword(password: string, cost: number): Promise<string> {
  const params = parametersFor(cost);
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, options(params));
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

function parse(stored: string): (Parameters & { salt: Buffer; key: Buffer }) | undefined {
  const [scheme, N, r, p, salt, key] = stored.split('$');
  if (scheme !== 'scrypt' || !N || !r || !p || !salt || !key) return undefined;
  return { N: Number(N), r: Number(r), p: Number(p), salt: Buffer.from(salt, 'base64url'), key: Buffer.from(key, 'base64url') };
}

/** Whether the password matches the stored hash, compared in constant time. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parse(stored);
  if (!parsed) return false;
  const key = await scrypt(password, parsed.salt, options(parsed));
  return key.length === parsed.key.length && timingSafeEqual(key, parsed.key);
}

/** Whether a stored hash was made with weaker parameters than the current ones (then it is redone at login). */
export function needsRehash(stored: string, cost: number): boolean {
  const parsed = parse(stored);
  const wanted = parametersFor(cost);
  return !parsed || parsed.N < wanted.N || parsed.r !== wanted.r || parsed.p !== wanted.p;
}

/**
 * Password hashing for a server: at most `concurrency` scrypt computations at once (each holds 128 MiB and one of
 * libuv's four threads, which file and DNS work share), at most `queueLength` more waiting their turn in order; past
 * that `busy(seconds)` is thrown at once (the server's 503 with Retry-After), so a flood of logins can neither exhaust
 * memory nor starve the rest of the server.
 */
export class PasswordWork {
  #running = 0;
  readonly #waiting: (() => void)[] = [];
  /** How long a recent hash took (ms, a moving average), to say when to come back. */
  #typicalMs = 250;

  constructor(
    readonly concurrency: number,
    readonly queueLength: number,
    /** The error for a full queue, given when to come back (seconds). */
    readonly busy: (seconds: number) => Error,
  ) {}

  /** Hashes being computed now. */
  get running(): number {
    return this.#running;
  }

  /** Hashes waiting for their turn. */
  get waiting(): number {
    return this.#waiting.length;
  }

  hash(password: string, cost: number): Promise<string> {
    return this.run(() => hashPassword(password, cost));
  }

  verify(password: string, stored: string): Promise<boolean> {
    return this.run(() => verifyPassword(password, stored));
  }

  /** Runs `work` once a place is free; throws `busy` when every place and the queue are taken. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#running < this.concurrency) this.#running++;
    else if (this.#waiting.length < this.queueLength) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else {
      const seconds = Math.max(1, Math.ceil((((this.#waiting.length + this.#running) / this.concurrency) * this.#typicalMs) / 1000));
      throw this.busy(seconds);
    }
    const start = performance.now();
    try {
      return await work();
    } finally {
      this.#typicalMs = 0.8 * this.#typicalMs + 0.2 * (performance.now() - start);
      // The place goes straight to the next in line, if any.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }
}
