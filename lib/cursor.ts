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
