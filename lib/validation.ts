import SerializerSelector from '@fastify/fast-json-stringify-compiler';
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
function withoutNul(compiled: () => ValidateFunction): ValidateFunction {
  const check = ((data: unknown) => {
    const validate = compiled();
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

const ajvFor = (httpPart: string | undefined) => (httpPart === 'body' ? bodyAjv : textAjv);

/** A route part's validator, compiled at once (test/route-schemas.test.ts compiles every route's with it). */
export const compileValidator: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  const validate = ajvFor(httpPart).compile(schema as object);
  return withoutNul(() => validate) as ReturnType<FastifySchemaCompiler<unknown>>;
};

/**
 * The app's validators, each compiled on its first use rather than when the app gets ready: Fastify asks for every
 * route's validators and serializers then (each GET's twice, for its HEAD route), which took most of the single
 * binary's start-up. test/route-schemas.test.ts compiles them all, so that a broken schema fails there, not on a request.
 */
export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  let validate: ValidateFunction | undefined;
  return withoutNul(() => (validate ??= ajvFor(httpPart).compile(schema as object))) as ReturnType<FastifySchemaCompiler<unknown>>;
};

const fastifySerializers = SerializerSelector();

/** Fastify's own serializer compiler (fast-json-stringify), each serializer built on its first use (see validatorCompiler). */
export const buildSerializer: typeof fastifySerializers = (externalSchemas, options) => {
  const compile = fastifySerializers(externalSchemas, options);
  return (route) => {
    let serialize: ((doc: unknown) => string) | undefined;
    return (doc) => (serialize ??= compile(route))(doc);
  };
};
