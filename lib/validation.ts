import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import { findString } from './json-depth.js';

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

const common: Options = { removeAdditional: false, useDefaults: true, allErrors: false, discriminator: true, strict: false };

/** Bodies are JSON and must have the right types: no coercion (a string is never turned into an array or number). */
const bodyAjv = addFormats(new Ajv({ ...common, coerceTypes: false }));
/** Query strings and path parameters arrive as text: numbers and booleans are coerced. */
const textAjv = addFormats(new Ajv({ ...common, coerceTypes: true }));

const hasNul = (s: string) => s.includes('\0');

/**
 * A validator that also refuses U+0000 in any string of a body, query or path: PostgreSQL cannot store it in text, and no
 * student's program or answer needs it, so both databases refuse it alike (400 naming the field).
 */
function withoutNul(validate: ValidateFunction): ValidateFunction {
  const check = ((data: unknown) => {
    if (!validate(data)) {
      check.errors = validate.errors;
      return false;
    }
    const at = findString(data, hasNul);
    if (at === undefined) {
      check.errors = null;
      return true;
    }
    const error: ErrorObject = { instancePath: at, schemaPath: '#', keyword: 'nul', params: {}, message: 'must not contain the NUL character (U+0000)' };
    check.errors = [error];
    return false;
  }) as ValidateFunction;
  return check;
}

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) =>
  withoutNul((httpPart === 'body' ? bodyAjv : textAjv).compile(schema as object)) as ReturnType<FastifySchemaCompiler<unknown>>;
