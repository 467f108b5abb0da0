import { createHmac, timingSafeEqual } from 'node:crypto';
import { cspHash, escapeHtml } from './html.js';
import { deriveKey, keyPurposes } from './keys.js';
import { LtiRefusal } from './lti-launch.js';

/**
 * The platform's storage for the OIDC round trip (1EdTech "LTI Client Side postMessages" and "LTI postMessage
 * Storage", v0.1), used when the login initiation names an `lti_storage_target`. Without cookies, Folio's state alone
 * does not tie a launch to the browser that started the login; the platform's storage does:
 * - the login answers a page whose script stores `state_<state>` and `nonce_<nonce>` in the platform's frame
 *   (`lti.put_data`), then goes on to the platform's authorization endpoint;
 * - the launch (the platform's form_post) answers a page whose script reads them back (`lti.get_data`) and posts them to
 *   /lti/launch again, with the continuation only this page was given; only then is the launch carried out.
 * A launch forced on another browser finds nothing in that browser's LMS page and is refused.
 *
 * The frame is `window.opener` (a launch in a new window) or `window.parent` (in the LMS's iframe) when the target is
 * `_parent`, else its child frame of that name. Messages go to the origin of the platform's authorization URL only,
 * and only answers from that origin and frame are read.
 */

/** The longest `lti_storage_target` taken (frame names are short: `_parent`, `post_message_forwarding`, …). */
export const maxStorageTargetLength = 200;

/** How long the script waits for each answer of the platform's frame. */
export const storageAnswerTimeoutMs = 2000;

/** The form fields of a launch's second step: what the browser read from the platform's storage, and the continuation. */
export const storageFields = { state: 'lti_storage_state', nonce: 'lti_storage_nonce', continuation: 'folio_continuation' } as const;

/*
 * The pages' one script, inline and allowed by its hash (script-src 'sha256-…'): it reads what to do from the page's
 * JSON data block, so it never changes. It runs in the LMS's iframe or in a window the LMS opened.
 */
const script = `(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('folio-lti-storage').textContent);
  var status = document.getElementById('status');
  var host = window.opener || (window.parent !== window ? window.parent : null);
  var frame = null;
  try {
    frame = host && (data.target === '_parent' ? host : host.frames[data.target] || null);
  } catch (e) {
    frame = null;
  }
  function messageId() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join('');
  }
  function ask(message) {
    return new Promise(function (resolve, reject) {
      if (!frame) return reject(new Error('this page is neither in a frame of the LMS nor in a window it opened'));
      var id = messageId();
      var timer = setTimeout(function () {
        window.removeEventListener('message', listen);
        reject(new Error('the LMS did not answer within ' + data.timeoutMs / 1000 + ' seconds'));
      }, data.timeoutMs);
      function listen(event) {
        var reply = event.data;
        if (event.origin !== data.platformOrigin || event.source !== frame) return;
        if (!reply || typeof reply !== 'object' || reply.message_id !== id || reply.subject !== message.subject + '.response') return;
        clearTimeout(timer);
        window.removeEventListener('message', listen);
        if (reply.error) reject(new Error('the LMS refused: ' + String(reply.error.code || '') + ' ' + String(reply.error.message || '')));
        else resolve(reply);
      }
      window.addEventListener('message', listen);
      message.message_id = id;
      frame.postMessage(message, data.platformOrigin);
    });
  }
  if (data.step === 'login') {
    ask({ subject: 'lti.put_data', key: 'state_' + data.state, value: data.state })
      .then(function () { return ask({ subject: 'lti.put_data', key: 'nonce_' + data.nonce, value: data.nonce }); })
      .then(
        function () { window.location.replace(data.authUrl); },
        function (err) { status.textContent = 'Your LMS did not keep the launch for Folio (' + err.message + '). Open the link again from your course; if this keeps happening, tell the LMS administrator.'; }
      );
  } else {
    var form = document.getElementById('continue');
    var read = function (key, field) {
      return ask({ subject: 'lti.get_data', key: key }).then(
        function (reply) { form.elements[field].value = typeof reply.value === 'string' ? reply.value : ''; },
        function () { form.elements[field].value = ''; }
      );
    };
    read('state_' + data.state, data.fields.state)
      .then(function () { return read('nonce_' + data.nonce, data.fields.nonce); })
      .then(function () { form.submit(); });
  }
})();
`;

/** The CSP source that allows the pages' script. */
export const storageScriptSource = cspHash(script);

/** JSON inside a <script> data block: `<` escaped, so no `</script>` or `<!--` can end it. */
const jsonBlock = (data: unknown) => JSON.stringify(data).replace(/</g, '\\u003c');

function page(title: string, message: string, data: Record<string, unknown>, form = ''): string {
  return (
    `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body>` +
    `<p id="status">${escapeHtml(message)}</p><noscript><p>Folio needs JavaScript to finish a launch from this LMS.</p></noscript>${form}` +
    `<script type="application/json" id="folio-lti-storage">${jsonBlock({ ...data, timeoutMs: storageAnswerTimeoutMs })}</script>` +
    `<script>${script}</script></body></html>\n`
  );
}

export interface StorageLogin {
  /** The platform's authorization URL with the OIDC request in its query, where the page then goes. */
  authUrl: string;
  target: string;
  state: string;
  nonce: string;
}

/** The login's page: stores the state and nonce in the platform's frame, then goes to its authorization endpoint. */
export function storageLoginPage(login: StorageLogin): string {
  const platformOrigin = new URL(login.authUrl).origin;
  return page('Folio: opening your course link', 'Opening your course link…', { step: 'login', platformOrigin, ...login });
}

export interface StorageLaunch {
  /** The platform's authorization URL (its origin is the storage frame's). */
  authUrl: string;
  target: string;
  idToken: string;
  state: string;
  nonce: string;
  continuation: string;
}

/**
 * The launch's page: reads the state and nonce back from the platform's frame and posts them to /lti/launch with the
 * id_token, the state and the continuation (empty values when the frame does not hold them: the server says why).
 */
export function storageLaunchPage(launch: StorageLaunch): string {
  const hidden = (name: string, value: string) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`;
  // A relative action: the page is /lti/launch itself, whatever origin Folio is reached at.
  const form =
    `<form id="continue" method="post" action="launch">${hidden('id_token', launch.idToken)}${hidden('state', launch.state)}` +
    `${hidden(storageFields.continuation, launch.continuation)}${hidden(storageFields.state, '')}${hidden(storageFields.nonce, '')}</form>`;
  return page('Folio: opening your course link', 'Opening your course link…', { step: 'launch', platformOrigin: new URL(launch.authUrl).origin, target: launch.target, state: launch.state, nonce: launch.nonce, fields: storageFields }, form);
}

/**
 * What only Folio's launch page is given for a state: an HMAC of it under a key derived from the server secret. A
 * page elsewhere that knows the state (whoever started the login does) cannot post the second step without it.
 */
export function continuationFor(secret: string, state: string): string {
  return createHmac('sha256', deriveKey(secret, keyPurposes.ltiContinuations)).update(state).digest('base64url');
}

const sameText = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/**
 * Why a launch's second step is refused, or undefined when the browser read this login's state and nonce from the
 * platform's storage through Folio's launch page.
 */
export function storedStateRefusal(params: Record<string, unknown>, login: { state: string; nonce: string }, secret: string): LtiRefusal | undefined {
  const field = (name: string) => (typeof params[name] === 'string' ? (params[name] as string) : '');
  if (!sameText(field(storageFields.continuation), continuationFor(secret, login.state))) {
    return new LtiRefusal('storage_continuation', "the launch did not come back through Folio's page that reads the LMS's storage: open the link again from the LMS");
  }
  if (!sameText(field(storageFields.state), login.state) || !sameText(field(storageFields.nonce), login.nonce)) {
    return new LtiRefusal(
      'storage',
      "the LMS's page does not hold this launch's state: the launch was started in another browser or window, or the LMS did not answer. Open the link again from your course",
    );
  }
  return undefined;
}
