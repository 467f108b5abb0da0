import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { HttpError } from '../lib/errors.js';
import { PublicBook } from '../schemas/books.js';
import { BookParams, errorReplies } from '../schemas/common.js';

const booksRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/books/:book',
    {
      schema: {
        tags: ['books'],
        summary: 'A book: its id and title (public)',
        params: BookParams,
        response: { 200: PublicBook, ...errorReplies(400, 404) },
      },
    },
    async (request) => {
      // The registry, as CORS sees it: a book another process just added answers here once CORS allows its origins.
      const book = app.books.get(request.params.book);
      if (!book) throw new HttpError(404, 'unknown_book', `there is no book "${request.params.book}"`);
      return { id: book.id, title: book.title };
    },
  );
};

export default booksRoutes;
