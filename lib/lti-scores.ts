import type { FastifyBaseLogger } from 'fastify';
import type { RegisteredToc } from './book-registry.js';
import { claimDueScores, markScoreFailed, markScoreSent, type ClaimedScore } from '../db/lti-scores.js';
import type { Database } from '../db/index.js';
import { findPlatform } from '../db/lti.js';
import { LtiServiceError, ltiScopes, serviceRequest } from './lti-services.js';

/**
 * Sending scores to LMS gradebooks (LTI Assignment and Grade Services 2.0): which page a link grades, the score as
 * the platform takes it, and the sender that delivers the pending rows of db/lti-scores.ts.
 */

/** The media type of an AGS score. */
export const scoreMediaType = 'application/vnd.ims.lis.v1.score+json';

/** A page id as the book's `page` values are (schemas/work.ts). */
const pageId = /^[A-Za-z0-9._:/-]{1,128}$/;

/**
 * The page a launch's target_link_uri is (SPEC §9): the TOC page whose `url` is its path, else the path without its
 * leading `/` and its `.html` (`/ch1/intro.html` → `ch1/intro`); undefined when the path makes no page id (`/`).
 */
export function targetPage(toc: RegisteredToc | undefined, targetLinkUri: string): string | undefined {
  const path = new URL(targetLinkUri).pathname;
  for (const chapter of toc?.chapters ?? []) for (const page of chapter.pages) if (page.url === path) return page.id;
  let id: string;
  try {
    id = decodeURIComponent(path).replace(/^\//, '').replace(/\.html$/, '');
  } catch {
    return undefined;
  }
  return pageId.test(id) ? id : undefined;
}

/** Where a line item takes scores: its URL with `/scores` after the path, before any query. */
export function scoresUrl(lineitem: string): string {
  const url = new URL(lineitem);
  url.pathname = `${url.pathname.replace(/\/$/, '')}/scores`;
  return url.href;
}

/** A score as application/vnd.ims.lis.v1.score+json: `timestamp` its change time, which platforms need to increase. */
export function scoreBody(score: ClaimedScore) {
  return {
    userId: score.sub,
    scoreGiven: score.scoreGiven,
    scoreMaximum: score.scoreMaximum,
    activityProgress: score.activityProgress,
    gradingProgress: score.gradingProgress,
    timestamp: new Date(score.changedAt).toISOString(),
  };
}

/** Posts one claimed score to its line item with a token for the score scope alone; throws an LtiServiceError. */
async function postScore(db: Database, secret: string, score: ClaimedScore, fetchImpl: typeof fetch): Promise<number> {
  const platform = await findPlatform(db, score.issuer, score.clientId);
  if (!platform) throw new LtiServiceError(`the platform ${score.issuer} (client id ${score.clientId}) is no longer registered: add it again with "folio lti platforms add"`, undefined, false);
  const res = await serviceRequest(db, secret, platform, [ltiScopes.score], scoresUrl(score.lineitem), { method: 'POST', accept: 'application/json', body: { contentType: scoreMediaType, json: scoreBody(score) } }, fetchImpl);
  await res.body?.cancel();
  return res.status;
}

export interface SendOptions {
  log: FastifyBaseLogger;
  now?: () => number;
  fetchImpl?: typeof fetch;
}

/**
 * Sends the pending scores due now, a claimed batch at a time until none is due: each delivered one marked sent, each
 * failure kept pending with its error and next attempt (db/lti-scores.ts), each logged (`lti_score_sent`,
 * `lti_score_failed`). How many were sent and how many failed.
 */
export async function sendDueScores(db: Database, secret: string, options: SendOptions): Promise<{ sent: number; failed: number }> {
  const now = options.now ?? Date.now;
  const result = { sent: 0, failed: 0 };
  for (;;) {
    const batch = await claimDueScores(db, now());
    if (batch.length === 0) return result;
    for (const score of batch) {
      const about = { issuer: score.issuer, lineitem: score.lineitem, userId: score.userId, sub: score.sub };
      try {
        const status = await postScore(db, secret, score, options.fetchImpl ?? fetch);
        await markScoreSent(db, score, now());
        result.sent++;
        options.log.info({ event: 'lti_score_sent', ...about, status, scoreGiven: score.scoreGiven, scoreMaximum: score.scoreMaximum, activityProgress: score.activityProgress, gradingProgress: score.gradingProgress }, 'LTI score sent');
      } catch (err) {
        const failure = err instanceof LtiServiceError ? err : new LtiServiceError((err as Error).message, undefined, true);
        const next = await markScoreFailed(db, score, failure.message, failure.retryable, now());
        result.failed++;
        options.log.warn({ event: 'lti_score_failed', ...about, status: failure.status ?? null, retryable: failure.retryable, attempts: score.attempts + 1, nextAttemptAt: new Date(next).toISOString(), error: failure.message }, 'LTI score not sent');
      }
    }
  }
}
