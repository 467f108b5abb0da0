import Type from 'typebox';
import { roles } from '../db/schema.js';

export const BookId = Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$', description: 'book id (slug)', examples: ['demo'] });

/** A server-wide role (db/schema.ts). */
export const Role = Type.Enum(roles);

export const BookParams = Type.Object({ book: BookId });

/** Replies every route may give, referenced by $id. */
export const errorReplies = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, Type.Ref('ErrorBody')]));
