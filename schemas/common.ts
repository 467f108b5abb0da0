import Type, { type TSchema } from 'typebox';
import { roles } from '../db/schema.js';

export const BookId = Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$', description: 'book id (slug)', examples: ['demo'] });

/** A server-wide role (db/schema.ts). */
export const Role = Type.Enum(roles);

export const BookParams = Type.Object({ book: BookId });

/** A time as replies give it. */
export const When = Type.String({ format: 'date-time', description: 'server time, ISO 8601', examples: ['2026-11-28T20:00:00.000Z'] });
/** A schema or null. */
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

/** Replies every route may give, referenced by $id. */
export const errorReplies = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, Type.Ref('ErrorBody')]));
