import SerializerSelector from '@fastify/fast-json-stringify-compiler';
import Fastify from 'fastify';
import t from 'tap';
import { folio, serverOptions } from '../app.js';
import { compileValidator } from '../lib/validation.js';
import { testConfig } from './helper.js';

// The app compiles each route's validators and serializers on first use (lib/validation.ts): here every one is
// compiled at once, as Fastify does by default, so that a schema that does not compile fails this test.
t.test('every route\'s request and reply schemas compile', async (t) => {
  const declared = new Set<string>();
  const compiled = new Set<string>();
  const opts = { config: testConfig(t), migrate: true, logger: false as const };
  const serializers = SerializerSelector();
  const app = Fastify({
    ...serverOptions(opts),
    schemaController: {
      compilersFactory: {
        buildSerializer: (externalSchemas, options) => {
          const compile = serializers(externalSchemas, options);
          return (route) => {
            const serialize = compile(route);
            compiled.add(`${route.method} ${route.url} ${route.httpStatus}`);
            return serialize;
          };
        },
      },
    },
  });
  app.setValidatorCompiler((route) => {
    const validate = compileValidator(route);
    compiled.add(`${route.method} ${route.url} ${route.httpPart}`);
    return validate;
  });
  app.addHook('onRoute', (route) => {
    const { schema } = route;
    if (!schema) return;
    for (const method of [route.method].flat()) {
      for (const part of ['body', 'querystring', 'params', 'headers'] as const) if (schema[part]) declared.add(`${method} ${route.url} ${part}`);
      if (schema.querystring === undefined && (schema as { query?: unknown }).query) declared.add(`${method} ${route.url} querystring`);
      for (const status of Object.keys(schema.response ?? {})) declared.add(`${method} ${route.url} ${status}`);
    }
  });
  await app.register(folio, opts);
  await app.ready();
  t.teardown(() => app.close());
  t.ok(declared.size > 0, 'the routes declare schemas');
  t.same([...compiled].sort(), [...declared].sort(), 'each was compiled');
});
