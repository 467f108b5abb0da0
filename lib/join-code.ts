import { randomInt } from 'node:crypto';

/** Letters and digits that are not mistaken for one another when read aloud or off a slide (no I, L, O, U, 0, 1). */
const alphabet = 'ABCDEFGHJKMNPQRSTVWXYZ23456789';

/** The length of a new join code: 10 characters of 30, about 49 bits, far beyond guessing at the join route's rate limit. */
export const joinCodeLength = 10;

/** A new, random join code (crypto-random, upper-case). */
export function newJoinCode(): string {
  let code = '';
  for (let i = 0; i < joinCodeLength; i++) code += alphabet[randomInt(alphabet.length)];
  return code;
}

/** A code as a person may type it (lower-case, with spaces or dashes) in the form it is stored: upper-case, without them. */
export function normaliseJoinCode(typed: string): string {
  return typed.replace(/[\s-]+/g, '').toUpperCase();
}
