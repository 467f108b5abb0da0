import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { findBook } from '../db/books.js';
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
      const book = await findBook(app.db, request.params.book);
      if (!book) throw new HttpError(404, 'unknown_book', `there is no book "${request.params.book}"`);
      return book;
    },
  );
};

export default booksRoutes;
