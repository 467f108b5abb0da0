import t from 'tap';
import { listProviders } from '../db/oidc.js';
import { startDemoIdentityProvider } from '../scripts/demo.js';
import { build } from './helper.js';

/** `npm run demo -- --oidc`: the demo's identity provider is registered with Folio, and a sign-in through it ends on the demo book page with a hand-off code. */

t.test("the demo's identity provider is registered as demo-idp (replacing an earlier run's) and a sign-in ends on the demo book's page with a hand-off code", async (t) => {
  const app = await build(t, { demo: true });
  const earlier = await startDemoIdentityProvider(app, 0);
  await earlier.idp.close();
  const { idp, lines } = await startDemoIdentityProvider(app, earlier.idp.port);
  t.teardown(idp.close);
  t.match(lines[0], new RegExp(`identity +${idp.issuer.replace(/[.]/g, '\\.')} .*registered as "demo-idp"; redirect URI http://127\\.0\\.0\\.1:3000/api/auth/oidc/demo-idp/callback`));
  t.match(await listProviders(app.db), [{ id: 'demo-idp', title: 'Demo university', clientId: 'folio-demo', issuer: idp.issuer }]);
  t.equal((await listProviders(app.db)).length, 1, "the earlier run's registration was replaced");

  // The demo book (build with demo: true) allows http://localhost:8080.
  const page = 'http://localhost:8080/index.html';
  const start = await app.inject({ method: 'GET', url: `/api/auth/oidc/demo-idp/start?book=demo&return=${encodeURIComponent(page)}` });
  t.equal(start.statusCode, 302, start.body);
  const back = new URL(await idp.signIn(String(start.headers.location), 'sam'));
  const callback = await app.inject({ method: 'GET', url: `${back.pathname}${back.search}` });
  t.equal(callback.statusCode, 302, callback.body);
  t.match(String(callback.headers.location), new RegExp(`^${page.replace(/[.]/g, '\\.')}#folio-handoff=[A-Za-z0-9_-]{43}$`));
});
