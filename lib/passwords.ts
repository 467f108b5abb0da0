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
