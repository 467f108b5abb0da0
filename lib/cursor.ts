import { HttpError } from './errors.js';

/**
 * The cursors of the lists that grow with students (the progress grids, a course's roster): the last user id of a page, base64url
 * encoded. Opaque to clients, which pass a page's `next` as the following page's `after`.
 */
export const cursorOf = (userId: string): string => Buffer.from(userId, 'utf8').toString('base64url');

/** The user id a cursor stands for, or a 400 naming `querystring/after` for anything this server did not give. */
export function afterCursor(after: string | undefined): string {
  if (after === undefined) return '';
  const userId = Buffer.from(after, 'base64url').toString('utf8');
  if (!/^[A-Za-z0-9-]{1,64}$/.test(userId) || cursorOf(userId) !== after) {
    throw new HttpError(400, 'invalid_request', 'querystring/after is not a cursor of this list: pass the `next` of the previous page, or leave it out for the first page');
  }
  return userId;
}

/**
 * The cursors of the lists by a number (a student's versions of a program, attempts at a question): the page's last
 * number, base64url encoded like the others (opaque to clients).
 */
export const numberCursorOf = (n: number): string => Buffer.from(String(n), 'utf8').toString('base64url');

/** The number a number cursor stands for (undefined without one), or a 400 naming `querystring/after`. */
export function afterNumber(after: string | undefined): number | undefined {
  if (after === undefined) return undefined;
  const text = Buffer.from(after, 'base64url').toString('utf8');
  const n = Number(text);
  if (!/^[1-9][0-9]{0,9}$/.test(text) || n > 2 ** 31 - 1 || numberCursorOf(n) !== after) {
    throw new HttpError(400, 'invalid_request', 'querystring/after is not a cursor of this list: pass the `next` of the previous page, or leave it out for the first page');
  }
  return n;
}
