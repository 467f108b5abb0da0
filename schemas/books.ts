import Type from 'typebox';
import { BookId } from './common.js';

export const PublicBook = Type.Object({ id: BookId, title: Type.String({ examples: ['Folio demo book'] }) }, { additionalProperties: false });
