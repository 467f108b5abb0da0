import t from 'tap';
import Fastify from 'fastify';
import { folio, serverOptions } from '../app.js';
import { validatorCompiler } from '../lib/validation.js';
import { accessDescriptions, type Access } from '../plugins/access.js';
import { build, testConfig } from './helper.js';

t.test('the OpenAPI document lists every /api route with its methods', async (t) => {
  // The real app, with a hook that sees every route as it is registered.
  const routes: { method: string; url: string }[] = [];
  const opts = { config: testConfig(t), migrate: true, logger: false as const };
  const app = Fastify(serverOptions(opts));
  app.setValidatorCompiler(validatorCompiler);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push({ method, url: route.url });
  });
  await app.register(folio, opts);
  await app.ready();
  t.teardown(() => app.close());
  const res = await app.inject({ method: 'GET', url: '/docs/json' });
  t.equal(res.statusCode, 200);
  const doc = res.json() as { openapi: string; paths: Record<string, Record<string, unknown>> };
  t.equal(doc.openapi, '3.1.0');
  const api = routes.filter((r) => r.url.startsWith('/api'));
  t.ok(api.length >= 15, `${api.length} API routes`);
  for (const { method, url } of api) {
    const path = url.replace(/:(\w+)/g, '{$1}');
    t.ok(doc.paths[path]?.[method.toLowerCase()], `${method} ${url} is documented`);
  }
});

t.test('every documented operation has a summary, and request bodies show examples', async (t) => {
  const app = await build(t);
  const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json() as { paths: Record<string, Record<string, { summary?: string }>> };
  for (const [path, ops] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(ops)) t.ok(op.summary, `${method} ${path}`);
  const answers = JSON.stringify(doc.paths['/api/books/{book}/answers/{question}']);
  t.match(answers, /"example":\{"kind":"mchoice"/);
});

t.test('every documented operation says who may call it, as its route declares', async (t) => {
  const declared = new Map<string, Access>();
  const opts = { config: testConfig(t), migrate: true, logger: false as const };
  const app = Fastify(serverOptions(opts));
  app.setValidatorCompiler(validatorCompiler);
  app.addHook('onRoute', (route) => {
    if (route.config?.access) for (const method of [route.method].flat()) declared.set(`${method.toLowerCase()} ${route.url.replace(/:(\w+)/g, '{$1}')}`, route.config.access);
  });
  await app.register(folio, opts);
  await app.ready();
  t.teardown(() => app.close());
  const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json() as { paths: Record<string, Record<string, { description?: string }>> };
  let checked = 0;
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const access = declared.get(`${method} ${path}`);
      t.ok(access, `${method} ${path} declares its access`);
      t.match(op.description ?? '', new RegExp(`^Who may call: ${access ? accessDescriptions[access].replace(/[()]/g, '\\$&') : '-'}\\.`), `${method} ${path}`);
      checked++;
    }
  }
  t.ok(checked >= 25, `${checked} operations`);
});

t.test('the browsable docs are served at /docs', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/docs/' });
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /text\/html/);
  t.match(res.body, /swagger-ui/i);
});

t.test("the identity provider's start documents its dashboard variant (book optional), and the dashboard's hand-off its refusals", async (t) => {
  const app = await build(t);
  const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json() as {
    paths: Record<string, Record<string, { description?: string; parameters?: { name: string; in: string; required?: boolean }[]; responses: Record<string, unknown> }>>;
  };
  const start = doc.paths['/api/auth/oidc/{provider}/start']!['get']!;
  t.same(
    start.parameters!.filter((p) => p.in === 'query').map((p) => [p.name, p.required ?? false]),
    [
      ['book', false],
      ['return', true],
    ],
  );
  t.match(start.description, /Without `book`, a sign-in on Folio's dashboard/);
  const handoff = doc.paths['/api/auth/handoff/dashboard']!['post']!;
  t.match(handoff.description, /^Who may call: anyone, without a session\.[\s\S]*from any other origin \(403 origin_not_allowed\)/);
  t.same(Object.keys(handoff.responses).sort(), ['200', '400', '403', '415', '429', '503']);
});
