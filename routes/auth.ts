import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { ExportUnavailableError } from '../db/exports.js';
import {
  claimAnonymousUser,
  createAccount,
  deleteUser,
  endSessionsOfUser,
  findUserByUsername,
  mergeUsers,
  openPersonalExport,
  publicUser,
  updateUser,
  UsernameTakenError,
  type UserRow,
} from '../db/users.js';
import { HttpError } from '../lib/errors.js';
import { needsRehash } from '../lib/passwords.js';
import { currentSessionKey, endSession, requireUser, startSession } from '../plugins/auth.js';
import { AuthReply, DeleteMeBody, LoginBody, MeReply, PatchMeBody, PersonalDataReply, RegisterBody } from '../schemas/auth.js';
import { errorReplies } from '../schemas/common.js';

/**
 * Checks the current password of a logged-in account before a change that needs it: counted as a login attempt
 * (a stolen session must not become a way to guess the password) and logged when wrong (then 403).
 */
async function checkCurrentPassword(request: FastifyRequest, user: UserRow, password: string | undefined, purpose: string): Promise<void> {
  if (!user.passwordHash) throw new HttpError(400, 'no_account', 'register first: an anonymous session has no password');
  if (password !== undefined) {
    await request.server.limitAuthAttempt(request, user.username ?? user.id);
    if (await request.server.passwords.verify(password, user.passwordHash)) return;
    request.log.warn({ event: 'password_check_failed', purpose, userId: user.id, username: user.username, client: request.ip }, 'wrong current password');
  }
  throw new HttpError(403, 'wrong_password', `currentPassword is missing or wrong: the ${purpose} was refused`);
}

const authRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db, config, passwords } = app;
  // Unknown usernames are checked against this, so they cost the same time as a wrong password (made again if the
  // first try found the password queue full).
  let dummyHash: Promise<string> | undefined;
  const dummy = () =>
    (dummyHash ??= passwords.hash('folio-dummy-password', config.passwordCost).catch((err: unknown) => {
      dummyHash = undefined;
      throw err;
    }));

  app.post(
    '/api/auth/register',
    {
      config: { access: 'public' },
      schema: {
        tags: ['auth'],
        summary: 'Create an account and log in; work saved anonymously in this session becomes the account\'s',
        body: RegisterBody,
        response: { 201: AuthReply, ...errorReplies(400, 403, 409, 415, 429, 503) },
      },
    },
    async (request, reply) => {
      const { username, password, name, email, researchConsent, mode = 'cookie' } = request.body;
      await app.limitAuthAttempt(request, username);
      const account = { username, passwordHash: await passwords.hash(password, config.passwordCost), name, email, researchConsent };
      let user;
      try {
        user = request.user?.anonymous ? await claimAnonymousUser(db, request.user.id, account) : await createAccount(db, account);
      } catch (err) {
        if (err instanceof UsernameTakenError) throw new HttpError(409, 'username_taken', `${err.message}: choose another, or log in`);
        throw err;
      }
      const token = await startSession(request, reply, user, mode);
      return reply.code(201).send({ user: publicUser(user), ...(token ? { token } : {}) });
    },
  );

  app.post(
    '/api/auth/login',
    {
      config: { access: 'public' },
      schema: {
        tags: ['auth'],
        summary: 'Log in; work saved anonymously in this session moves to the account',
        body: LoginBody,
        response: { 200: AuthReply, ...errorReplies(400, 401, 403, 415, 429, 503) },
      },
    },
    async (request, reply) => {
      const { username, password, mode = 'cookie' } = request.body;
      await app.limitAuthAttempt(request, username);
      const found = await findUserByUsername(db, username);
      const valid = found?.passwordHash ? await passwords.verify(password, found.passwordHash) : (await passwords.verify(password, await dummy())) && false;
      if (!found || !valid) {
        request.log.warn({ event: 'login_failed', username, client: request.ip }, 'login failed');
        throw new HttpError(401, 'invalid_credentials', 'the username or the password is wrong');
      }
      let user = found;
      if (needsRehash(found.passwordHash!, config.passwordCost)) {
        user = (await updateUser(db, found.id, { passwordHash: await passwords.hash(password, config.passwordCost) })) ?? found;
      }
      const previous = request.user;
      if (previous?.anonymous && previous.id !== user.id) await mergeUsers(db, previous.id, user.id);
      const token = await startSession(request, reply, user, mode);
      return { user: publicUser(user), ...(token ? { token } : {}) };
    },
  );

  app.post(
    '/api/auth/logout',
    { config: { access: 'public' }, schema: { tags: ['auth'], summary: 'End this session (cookie or token); harmless without one', response: { 204: { type: 'null' }, ...errorReplies(401, 403) } } },
    async (request, reply) => {
      await endSession(request, reply);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/api/auth/me',
    { config: { access: 'user' }, schema: { tags: ['auth'], summary: 'Who this session belongs to', response: { 200: MeReply, ...errorReplies(401) } } },
    async (request) => ({ user: publicUser(requireUser(request)) }),
  );

  app.patch(
    '/api/auth/me',
    {
      config: { access: 'user' },
      schema: {
        tags: ['auth'],
        summary: 'Change name, email, research consent, or the password (with the current one; ends other sessions)',
        body: PatchMeBody,
        response: { 200: MeReply, ...errorReplies(400, 401, 403, 415, 429, 503) },
      },
    },
    async (request) => {
      const user = requireUser(request);
      const { name, email, researchConsent, currentPassword, newPassword } = request.body;
      let passwordHash: string | undefined;
      if (newPassword !== undefined) {
        await checkCurrentPassword(request, user, currentPassword, 'password change');
        passwordHash = await passwords.hash(newPassword, config.passwordCost);
      } else if (currentPassword !== undefined) {
        throw new HttpError(400, 'invalid_request', 'currentPassword goes with newPassword');
      }
      const updated = await updateUser(db, user.id, { name, email, researchConsent, passwordHash });
      if (passwordHash) {
        const ended = await endSessionsOfUser(db, user.id, currentSessionKey(request));
        request.log.info({ event: 'password_changed', userId: user.id, username: user.username, client: request.ip, sessionsEnded: ended }, 'password changed');
      }
      return { user: publicUser(updated ?? user) };
    },
  );

  app.get(
    '/api/auth/me/export',
    {
      config: { access: 'user' },
      schema: {
        tags: ['auth'],
        summary: 'Download everything Folio holds about you: the account, every program version, answer attempt and event, positions and completed pages of every book',
        response: { 200: PersonalDataReply, ...errorReplies(401, 503) },
      },
    },
    async (request, reply) => {
      const user = requireUser(request);
      let exported;
      try {
        exported = await openPersonalExport(db, user.id);
      } catch (err) {
        if (err instanceof ExportUnavailableError) throw new HttpError(503, 'export_unavailable', err.message);
        throw err;
      }
      if (!exported) throw new HttpError(401, 'session_expired', 'your account no longer exists');
      request.log.info({ event: 'personal_export', by: user.username, userId: user.id, anonymous: user.anonymous }, 'personal data export');
      const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
      reply
        .type('application/json; charset=utf-8')
        .header('content-disposition', `attachment; filename="folio-${user.username ?? 'anonymous'}-${stamp}.json"`)
        .header('cache-control', 'no-store');
      // HEAD answers with the headers alone.
      if (request.method === 'HEAD') {
        await new Promise<void>((resolve) => exported.stream.once('close', resolve).destroy());
        return reply.send();
      }
      return reply.send(exported.stream);
    },
  );

  app.delete(
    '/api/auth/me',
    {
      config: { access: 'user' },
      schema: {
        tags: ['auth'],
        summary: 'Delete your account and everything Folio holds about you (with currentPassword; an anonymous user needs none); ends the session',
        body: DeleteMeBody,
        response: { 204: { type: 'null' }, ...errorReplies(400, 401, 403, 415, 429, 503) },
      },
    },
    async (request, reply) => {
      const user = requireUser(request);
      if (!user.anonymous) await checkCurrentPassword(request, user, request.body.currentPassword, 'account deletion');
      await deleteUser(db, user.id);
      await endSession(request, reply);
      request.log.info({ event: 'account_deleted', by: 'self', userId: user.id, anonymous: user.anonymous }, 'account deleted');
      return reply.code(204).send(null);
    },
  );
};

export default authRoutes;
