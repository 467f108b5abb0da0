import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { HttpError } from '../lib/errors.js';
import { PublicBook } from '../schemas/books.js';
import { TocReply } from '../schemas/toc.js';
import { BookParams, errorReplies } from '../schemas/common.js';

const booksRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/books/:book',
    {
      config: { access: 'public' },
      schema: {
        tags: ['books'],
        summary: 'A book: its id and title (public)',
        params: BookParams,
        response: { 200: PublicBook, ...errorReplies(400, 404) },
      },
    },
    async (request) => {
      // The registry, as CORS sees it: a book another process just added answers here once CORS allows its origins.
      const book = app.books.known(request.params.book);
      return { id: book.id, title: book.title };
    },
  );

  app.get(
    '/api/books/:book/toc',
    {
      config: { access: 'public' },
      schema: {
        tags: ['books'],
        summary: "A book's table of contents: chapters, pages, questions with their kind and points, activities (public)",
        params: BookParams,
        response: { 200: TocReply, ...errorReplies(400, 404) },
      },
    },
    async (request) => {
      const { book } = request.params;
      app.books.known(book);
      const toc = app.books.toc(book);
      if (!toc) throw new HttpError(404, 'no_toc', `book "${book}" has no table of contents yet: import one with "folio books toc import ${book} FILE.json"`);
      return { book, importedAt: new Date(toc.importedAt).toISOString(), chapters: toc.chapters };
    },
  );
};

export default booksRoutes;
