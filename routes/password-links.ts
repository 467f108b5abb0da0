import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { passwordLinkUser, usePasswordLink } from '../db/password-links.js';
import { findUserById } from '../db/users.js';
import { HttpError } from '../lib/errors.js';
import { PasswordLinkBody } from '../schemas/auth.js';
import { errorReplies } from '../schemas/common.js';

/**
 * Set-password links (db/password-links.ts): the page a link opens, its script (a file of Folio's own: the pages' CSP
 * allows scripts from 'self' only), and the API call the page makes.
 */

const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Set your password · Folio</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; max-width: 28rem; margin: 3rem auto; padding: 0 1rem; color: #222; }
label { display: block; margin: 1rem 0 .25rem; }
input { width: 100%; box-sizing: border-box; padding: .5rem; font: inherit; }
button { margin-top: 1.25rem; padding: .5rem 1.25rem; font: inherit; }
#message { margin-top: 1.25rem; }
.error { color: #a00; }
</style>
<script src="set-password.js" defer></script>
</head>
<body>
<main>
<h1>Set your password</h1>
<p>Your course's staff made an account for you. Choose its password (10 characters or more); then log in from your book with your username.</p>
<form id="set-password" hidden>
<label for="password">New password</label>
<input id="password" type="password" autocomplete="new-password" minlength="10" maxlength="1024" required>
<label for="again">The same password again</label>
<input id="again" type="password" autocomplete="new-password" minlength="10" maxlength="1024" required>
<button type="submit">Set password</button>
</form>
<p id="message" role="status"></p>
<noscript><p class="error">This page needs JavaScript to set your password.</p></noscript>
</main>
</body>
</html>
`;

const script = `'use strict';
(() => {
  const form = document.getElementById('set-password');
  const message = document.getElementById('message');
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  const say = (text, error) => {
    message.textContent = text;
    message.className = error ? 'error' : '';
  };
  if (!token) {
    say('This link is incomplete: open the whole link you were sent, or ask your course staff for a new one.', true);
    return;
  }
  form.hidden = false;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const password = document.getElementById('password').value;
    if (password !== document.getElementById('again').value) return say('The two passwords differ: type the same one twice.', true);
    if (password.length < 10) return say('The password needs 10 characters or more.', true);
    const button = form.querySelector('button');
    button.disabled = true;
    say('Setting your password…');
    try {
      const res = await fetch('../api/auth/password-link', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        credentials: 'omit',
        body: JSON.stringify({ token, password }),
      });
      if (res.status === 204) {
        form.hidden = true;
        history.replaceState(null, '', location.pathname);
        return say('Password set: log in from your book.');
      }
      const body = await res.json().catch(() => ({}));
      say(body.message || 'The password was not set (' + res.status + '): try again later.', true);
    } catch {
      say('Folio could not be reached: check your connection and try again.', true);
    } finally {
      button.disabled = false;
    }
  });
})();
`;

const passwordLinkRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db, config, passwords } = app;

  app.get('/account/set-password', { config: { access: 'public' }, schema: { hide: true, summary: 'The page a set-password link opens' } }, async (_request, reply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page),
  );

  app.get('/account/set-password.js', { config: { access: 'public' }, schema: { hide: true, summary: "The set-password page's script" } }, async (_request, reply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').send(script),
  );

  app.post(
    '/api/auth/password-link',
    {
      config: { access: 'public' },
      schema: {
        tags: ['auth'],
        summary: "Set an account's password with a set-password link's token (once; the link and every other link of the account end; sessions stay)",
        body: PasswordLinkBody,
        response: { 204: { type: 'null' }, ...errorReplies(400, 415, 429, 503) },
      },
    },
    async (request, reply) => {
      const { token, password } = request.body;
      const userId = await passwordLinkUser(db, token);
      const user = userId === undefined ? undefined : await findUserById(db, userId);
      // Counted as a login attempt: under the account's name, or, for a token that is no live link, one name for all such.
      await app.limitAuthAttempt(request, user?.username ?? '(password link)');
      const invalid = new HttpError(400, 'invalid_link', 'this set-password link is unknown, used or expired: ask your course staff for a new link');
      if (!user) throw invalid;
      const used = await usePasswordLink(db, token, await passwords.hash(password, config.passwordCost));
      if (used === undefined) throw invalid;
      request.log.info({ event: 'password_link_used', userId: user.id, username: user.username, client: request.ip }, 'password set with a link');
      return reply.code(204).send(null);
    },
  );
};

export default passwordLinkRoutes;
