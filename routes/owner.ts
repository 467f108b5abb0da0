import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Owner } from '../db/work.js';
import { ensureUser, requireUser } from '../plugins/auth.js';

/** Whose work a read is about: the authenticated student's, in a book that exists (else 404, 401). */
export function reader(request: FastifyRequest, book: string): Owner {
  request.server.books.known(book);
  return { userId: requireUser(request).id, bookId: book };
}

/** Whose work a write is: the authenticated student's, or a new anonymous user's on a first write. */
export async function writer(request: FastifyRequest, reply: FastifyReply, book: string): Promise<Owner> {
  request.server.books.known(book);
  return { userId: (await ensureUser(request, reply)).id, bookId: book };
}
