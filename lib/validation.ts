import { Ajv, type Options } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

const common: Options = { removeAdditional: false, useDefaults: true, allErrors: false, discriminator: true, strict: false };

/** Bodies are JSON and must have the right types: no coercion (a string is never turned into an array or number). */
const bodyAjv = addFormats(new Ajv({ ...common, coerceTypes: false }));
/** Query strings and path parameters arrive as text: numbers and booleans are coerced. */
const textAjv = addFormats(new Ajv({ ...common, coerceTypes: true }));

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? bodyAjv : textAjv).compile(schema as object) as ReturnType<FastifySchemaCompiler<unknown>>;
