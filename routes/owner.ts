import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Owner } from '../db/work.js';
import { HttpError } from '../lib/errors.js';
import { ensureUser, requireUser } from '../plugins/auth.js';

function requireBook(request: FastifyRequest, book: string): void {
  if (!request.server.books.has(book)) throw new HttpError(404, 'unknown_book', `there is no book "${book}"`);
}

/** Whose work a read is about: the authenticated student's, in a book that exists (else 404, 401). */
export function reader(request: FastifyRequest, book: string): Owner {
  requireBook(request, book);
  return { userId: requireUser(request).id, bookId: book };
}

/** Whose work a write is: the authenticated student's, or a new anonymous user's on a first write. */
export async function writer(request: FastifyRequest, reply: FastifyReply, book: string): Promise<Owner> {
  requireBook(request, book);
  return { userId: (await ensureUser(request, reply)).id, bookId: book };
}
