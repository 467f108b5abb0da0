import rateLimit from '@fastify/rate-limit';
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { HttpError } from '../lib/errors.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Counts a login or register attempt against its IP and its username; throws 429 (with Retry-After) past either limit. */
    limitAuthAttempt(request: FastifyRequest, username: string): Promise<void>;
  }
}

/**
 * Rate limits for guessing passwords. Counters live in this process: with several processes each allows
 * its own share (documented). Per-IP limits are generous because a classroom shares one address.
 */
export default fp(
  async function rateLimitPlugin(app) {
    await app.register(rateLimit, { global: false });
    const perIp = app.createRateLimit({ max: app.config.loginRatePerIp, timeWindow: 60_000, keyGenerator: (request) => `auth-ip:${request.ip}` });
    const perUser = app.createRateLimit({
      max: app.config.loginRatePerUser,
      timeWindow: 60_000,
      keyGenerator: (request) => `auth-user:${String((request.body as { username?: unknown } | undefined)?.username ?? '').toLowerCase()}`,
    });

    app.decorate('limitAuthAttempt', async (request: FastifyRequest) => {
      for (const limit of [perIp, perUser]) {
        const result = await limit(request);
        if (result.isAllowed || !result.isExceeded) continue;
        throw new HttpError(429, 'rate_limited', `too many attempts: try again in ${result.ttlInSeconds} s`, { 'retry-after': String(result.ttlInSeconds) });
      }
    });
  },
  { name: 'folio-rate-limit', fastify: '5.x', dependencies: ['folio-config', 'folio-cors'], decorators: { fastify: ['config'] } },
);
