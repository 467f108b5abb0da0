/**
 * Writes client/replies.ts: the browser client's types of what the server replies, made from the reply schemas
 * (schemas/*.ts), so that the two cannot drift apart: the schemas are the one source. The client stays
 * self-contained (plain TypeScript declarations, nothing of TypeBox). test/client-types.test.ts fails when the file
 * is not what this script makes of the current schemas; run `npm run client-types` after changing a reply schema.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TSchema } from 'typebox';
import * as Auth from '../schemas/auth.js';
import * as Courses from '../schemas/course.js';
import * as Experiments from '../schemas/experiments.js';
import * as Work from '../schemas/work.js';

/** The reply types of the client, by the name it gives them. A schema met inside another is written as its name. */
export const replyTypes: Readonly<Record<string, TSchema>> = {
  User: Auth.User,
  ProgramReply: Work.Program,
  ProgramHistory: Work.History,
  AnswerReply: Work.Answer,
  PositionReply: Work.Position,
  Progress: Work.Progress,
  Saved: Work.Saved,
  Attempted: Work.Attempted,
  Completion: Work.Completion,
  Accepted: Work.Accepted,
  PersonalData: Auth.PersonalData,
  Course: Courses.Course,
  JoinedCourse: Courses.JoinReply,
  MyCourse: Courses.MyCourse,
  StateExperiments: Work.StateExperiments,
  VariantReply: Experiments.VariantReply,
};

/** Literal unions that are not a schema of their own. */
const literalTypes: Readonly<Record<string, readonly string[]>> = {
  AnswerKind: Object.keys(Work.answerKinds),
};

/** A JSON Schema as far as the reply schemas use it. */
interface Schema {
  type?: string;
  const?: unknown;
  enum?: unknown[];
  anyOf?: Schema[];
  items?: Schema;
  properties?: Record<string, Schema>;
  patternProperties?: Record<string, Schema>;
  required?: string[];
  description?: string;
}

/** The keywords that say nothing of the type (checks of values, documentation): any other is refused. */
const ignored = new Set(['description', 'examples', 'format', 'pattern', 'minLength', 'maxLength', 'minimum', 'maximum', 'minItems', 'maxItems', 'default', 'additionalProperties', 'title']);
const known = new Set([...ignored, 'type', 'const', 'enum', 'anyOf', 'items', 'properties', 'patternProperties', 'required']);

/** A schema's description as a doc comment (a nullable value's: its value's). */
const comment = (schema: Schema, indent: string) => {
  const text = schema.description ?? schema.anyOf?.find((s) => s.description)?.description;
  return text ? `${indent}/** ${text.replace(/\*\//g, '*\\/')} */\n` : '';
};
const literal = (value: unknown) => (typeof value === 'string' ? `'${value.replace(/[\\']/g, '\\$&')}'` : JSON.stringify(value));
const key = (name: string) => (/^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name));

/** The TypeScript type of a schema, written at `indent`; `named` gives the names of schemas written elsewhere. */
function typeOf(schema: Schema, indent: string, named: Map<unknown, string>, top = false): string {
  const name = named.get(schema);
  if (name !== undefined && !top) return name;
  const unknownKeyword = Object.keys(schema).find((k) => !known.has(k));
  if (unknownKeyword !== undefined) throw new Error(`client-types: cannot write the keyword "${unknownKeyword}" of ${JSON.stringify(schema)} as a type`);
  if (schema.const !== undefined) return literal(schema.const);
  if (schema.enum) return schema.enum.map(literal).join(' | ');
  if (schema.anyOf) return schema.anyOf.map((s) => typeOf(s, indent, named)).join(' | ');
  switch (schema.type) {
    case undefined:
      return 'unknown';
    case 'string':
    case 'boolean':
    case 'null':
      return schema.type;
    case 'integer':
    case 'number':
      return 'number';
    case 'array': {
      if (!schema.items) throw new Error('client-types: an array without items');
      const item = typeOf(schema.items, indent, named);
      return /[|&]/.test(item) && !item.startsWith('{') ? `(${item})[]` : `${item}[]`;
    }
    case 'object': {
      if (schema.patternProperties) {
        const [value, more] = Object.values(schema.patternProperties);
        if (!value || more || schema.properties) throw new Error('client-types: an object with properties and patternProperties');
        return `Record<string, ${typeOf(value, indent, named)}>`;
      }
      const required = new Set(schema.required ?? []);
      const inner = `${indent}  `;
      const members = Object.entries(schema.properties ?? {}).map(
        ([k, v]) => `${comment(v, inner)}${inner}${key(k)}${required.has(k) ? '' : '?'}: ${typeOf(v, inner, named)};\n`,
      );
      return `{\n${members.join('')}${indent}}`;
    }
    default:
      throw new Error(`client-types: cannot write the type "${schema.type}"`);
  }
}

/** The text of client/replies.ts. */
export function clientTypes(types: Readonly<Record<string, TSchema>> = replyTypes, literals = literalTypes): string {
  const named = new Map<unknown, string>(Object.entries(types).map(([name, schema]) => [schema, name]));
  const parts = [
    '// Generated by scripts/client-types.ts from the reply schemas (schemas/*.ts): do not edit, run `npm run client-types`.\n',
    '// test/client-types.test.ts fails when this file is not what the script makes of the schemas.\n',
  ];
  for (const [name, values] of Object.entries(literals)) parts.push(`\nexport type ${name} = ${values.map(literal).join(' | ')};\n`);
  for (const [name, schema] of Object.entries(types)) {
    const s = schema as Schema;
    const type = typeOf(s, '', named, true);
    parts.push(`\n${comment(s, '')}${s.type === 'object' && !s.patternProperties ? `export interface ${name} ${type}` : `export type ${name} = ${type};`}\n`);
  }
  return parts.join('');
}

export const repliesFile = join(import.meta.dirname, '../client/replies.ts');

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await writeFile(repliesFile, clientTypes());
  console.log(`client-types: wrote ${repliesFile}`);
}
