import { createHmac, randomBytes } from 'node:crypto';

/**
 * Research experiments: parsing their variants, choosing a student's variant deterministically, and the two-sided
 * tests `folio experiments report` prints. Pure functions, no database.
 */

/** An experiment id, as book ids are (a slug). */
export const experimentIdPattern = /^[a-z0-9][a-z0-9_-]{0,63}$/;
/** A variant's name: what `variant(id)` gives the book's page. */
export const variantNamePattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export interface Variant {
  name: string;
  /** A positive whole number: the variant's share is weight / (sum of weights). */
  weight: number;
}

/** Bad usage of a definition (a bad variant list): the CLI exits 2, the API answers 400. */
export class ExperimentDefinitionError extends Error {
  override name = 'ExperimentDefinitionError';
}

/** `control,hint:2` → [{control, 1}, {hint, 2}]: at least two variants, names unique, weights whole numbers 1-1000. */
export function parseVariants(text: string): Variant[] {
  const variants = text.split(',').map((part) => {
    const [name = '', weight, extra] = part.trim().split(':');
    if (!variantNamePattern.test(name)) throw new ExperimentDefinitionError(`a variant name must be 1-64 letters, digits and _ . - (got ${JSON.stringify(name)} in ${JSON.stringify(text)})`);
    if (extra !== undefined || (weight !== undefined && !/^[1-9][0-9]{0,3}$/.test(weight))) throw new ExperimentDefinitionError(`variant ${name}: a weight is a whole number from 1 to 1000, as name:2 (got ${JSON.stringify(part.trim())})`);
    return { name, weight: weight === undefined ? 1 : Number(weight) };
  });
  checkVariants(variants);
  return variants;
}

/** At least two variants, unique names, weights 1-1000. */
export function checkVariants(variants: readonly Variant[]): void {
  if (variants.length < 2) throw new ExperimentDefinitionError('an experiment needs at least two variants, as control,treatment');
  const seen = new Set<string>();
  for (const { name, weight } of variants) {
    if (!variantNamePattern.test(name)) throw new ExperimentDefinitionError(`a variant name must be 1-64 letters, digits and _ . - (got ${JSON.stringify(name)})`);
    if (!Number.isInteger(weight) || weight < 1 || weight > 1000) throw new ExperimentDefinitionError(`variant ${name}: a weight is a whole number from 1 to 1000`);
    if (seen.has(name)) throw new ExperimentDefinitionError(`variant ${name} is named twice`);
    seen.add(name);
  }
}

/** A new experiment's salt: 128 random bits as hex. */
export const newSalt = () => randomBytes(16).toString('hex');

/**
 * The variant a student gets: HMAC-SHA256(salt, "experiment:" + experiment + ":" + user) read as a number u in [0, 1)
 * (its first 52 bits), and the variant whose cumulative share of the weights first passes u. The same student gets
 * the same variant every time; different salts split students independently.
 */
export function chooseVariant(salt: string, experiment: string, userId: string, variants: readonly Variant[]): string {
  const digest = createHmac('sha256', salt).update(`experiment:${experiment}:${userId}`).digest();
  const u = (digest.readUInt32BE(0) * 2 ** 20 + (digest.readUInt32BE(4) >>> 12)) / 2 ** 52;
  const total = variants.reduce((sum, v) => sum + v.weight, 0);
  let cumulative = 0;
  for (const v of variants) {
    cumulative += v.weight;
    if (u * total < cumulative) return v.name;
  }
  return variants.at(-1)!.name;
}

// ---- statistics for the report ---------------------------------------------------------------------------------

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9: about 15 significant digits). */
export function logGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61503916999185, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = c[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** The continued fraction of the incomplete beta function (modified Lentz). */
function betaFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 10_000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const step = d * c;
    h *= step;
    if (Math.abs(step - 1) < 1e-15) break;
  }
  return h;
}

/** The regularised incomplete beta function I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2) ? (front * betaFraction(a, b, x)) / a : 1 - (front * betaFraction(b, a, 1 - x)) / b;
}

/** P(|T| ≥ |t|) for Student's t with `df` degrees of freedom (df may be fractional, as Welch's is). */
export function twoSidedTP(t: number, df: number): number {
  if (!Number.isFinite(t)) return 0;
  return incompleteBeta(df / (df + t * t), df / 2, 0.5);
}

/** erfc(x), from the regularised incomplete gamma function's continued fraction / series (about 15 digits). */
export function erfc(x: number): number {
  if (x < 0) return 2 - erfc(-x);
  // erfc(x) = Q(1/2, x²), the upper regularised incomplete gamma function.
  const a = 0.5;
  const z = x * x;
  if (z === 0) return 1;
  const lead = Math.exp(-z + a * Math.log(z) - logGamma(a));
  if (z < a + 1) {
    let sum = 1 / a;
    let term = sum;
    for (let n = 1; n < 1000; n++) {
      term *= z / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-16) break;
    }
    return 1 - lead * sum;
  }
  const tiny = 1e-300;
  let b = z + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const step = d * c;
    h *= step;
    if (Math.abs(step - 1) < 1e-16) break;
  }
  return lead * h;
}

/** P(|Z| ≥ |z|) for a standard normal Z. */
export const twoSidedNormalP = (z: number): number => erfc(Math.abs(z) / Math.SQRT2);

export interface TestResult {
  /** The test's statistic (t or z). */
  statistic: number;
  /** Degrees of freedom (Welch's t), or null (z). */
  df: number | null;
  /** Two-sided p-value. */
  p: number;
}

/** Mean and unbiased variance. */
function moments(xs: readonly number[]): { n: number; mean: number; variance: number } {
  const n = xs.length;
  const mean = xs.reduce((s, x) => s + x, 0) / n;
  const variance = n < 2 ? NaN : xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1);
  return { n, mean, variance };
}

/**
 * Welch's unequal-variances t-test of two samples' means, two-sided: t = (m1 - m2) / √(s1²/n1 + s2²/n2), df by
 * Welch-Satterthwaite. Assumes independent observations, each group's mean roughly normal (fine for tens of students
 * unless scores are very skewed); it does not assume equal variances. Null when a group has fewer than two values
 * or both have no variance.
 */
export function welchTTest(a: readonly number[], b: readonly number[]): TestResult | null {
  if (a.length < 2 || b.length < 2) return null;
  const x = moments(a);
  const y = moments(b);
  const va = x.variance / x.n;
  const vb = y.variance / y.n;
  if (va + vb === 0) return null;
  const t = (x.mean - y.mean) / Math.sqrt(va + vb);
  const df = (va + vb) ** 2 / (va ** 2 / (x.n - 1) + vb ** 2 / (y.n - 1));
  return { statistic: t, df, p: twoSidedTP(t, df) };
}

/**
 * The two-proportion z-test with the pooled proportion, two-sided: z = (p1 - p2) / √(p(1-p)(1/n1 + 1/n2)). Assumes
 * independent students and large enough groups (each with about 5 or more successes and failures) for the normal
 * approximation. Null when a group is empty or the pooled proportion is 0 or 1.
 */
export function twoProportionZTest(successesA: number, nA: number, successesB: number, nB: number): TestResult | null {
  if (nA === 0 || nB === 0) return null;
  const pooled = (successesA + successesB) / (nA + nB);
  if (pooled === 0 || pooled === 1) return null;
  const z = (successesA / nA - successesB / nB) / Math.sqrt(pooled * (1 - pooled) * (1 / nA + 1 / nB));
  return { statistic: z, df: null, p: twoSidedNormalP(z) };
}
