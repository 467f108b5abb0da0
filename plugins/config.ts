import fp from 'fastify-plugin';
import { type Config } from '../lib/config.js';
import { resolveSecret } from '../lib/secret.js';

/**
 * The configuration plugin only decorates: `app.config` and `app.secret`. The settings table, loadConfig and the
 * helpers live in lib/config.ts, which the CLI and the tests import without Fastify (and without a cycle through
 * lib/secret.ts). Re-exported here for the modules that still import them from the plugin.
 */
export { ConfigError, loadConfig, servesHttps, settings, trustedProxies, type Config, type TrustedProxies } from '../lib/config.js';

const loopbackHosts = ['127.0.0.1', '::1', 'localhost'];

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
    /** FOLIO_SECRET, or the one generated and kept in the data folder. */
    secret: string;
  }
}

export default fp(
  async function configPlugin(app, opts: { config: Config }) {
    const { config } = opts;
    app.decorate('config', config);
    app.decorate('secret', resolveSecret(config));
    if (typeof config.trustProxy === 'number' && !loopbackHosts.includes(config.host)) {
      app.log.warn(
        { event: 'trust_proxy_hops', host: config.host, hops: config.trustProxy },
        `FOLIO_TRUST_PROXY=${config.trustProxy} trusts the last ${config.trustProxy} X-Forwarded-For entries from any peer, and Folio listens on ${config.host}: ` +
          'anyone who reaches this port without the proxy can write their own address; firewall the port, listen on 127.0.0.1, or give the proxy\'s address instead',
      );
    }
  },
  { name: 'folio-config', fastify: '5.x' },
);
