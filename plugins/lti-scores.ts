import type { FastifyBaseLogger } from 'fastify';
import fp from 'fastify-plugin';
import { tocIndex } from '../db/course-reports.js';
import { faultOf } from '../db/faults.js';
import { startupReads } from '../db/index.js';
import type { LtiPlatform } from '../db/lti.js';
import { anyScoreRows, recordScoreTarget, rescoreAfterWork, type WorkChange } from '../db/lti-scores.js';
import type { Owner } from '../db/work.js';
import type { Launch } from '../lib/lti-launch.js';
import { sendDueScores, targetPage } from '../lib/lti-scores.js';
import { ltiScopes } from '../lib/lti-services.js';

/** How often the sender looks for due scores (retries; a score that became pending is sent at once). */
export const scoreSenderEveryMs = 5000;

export interface LtiScores {
  /**
   * After a resource link launch: for a learner, with the AGS claim (a line item, the score scope), their score row for the
   * line item and the launch's target page, and its score sent when there is one. Logs what it skipped and why.
   */
  launched(launch: Launch, platform: Pick<LtiPlatform, 'issuer' | 'clientId'>, userId: string, courseId: string | undefined, log: FastifyBaseLogger): Promise<void>;
  /**
   * After a student's work changed (before the reply: a 2xx means a changed score is stored pending): their scores on
   * that page (without `change`, every page of the book: work moved to them), computed again; sent at once when changed.
   */
  workChanged(owner: Owner, change?: WorkChange): Promise<void>;
  /** Sends the due scores now (what the loop does every few seconds); `now` for tests. */
  sendDue(now?: number): Promise<{ sent: number; failed: number }>;
  /** Resolves once no send started by this process is under way. */
  idle(): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** LTI Assignment and Grade Services: score rows kept up to date with the students' work and sent (db/lti-scores.ts, lib/lti-scores.ts). */
    ltiScores: LtiScores;
  }
}

/**
 * Score passback to LMS gradebooks: score rows made at launches and computed again after each save of work, a send
 * as soon as one becomes pending, and a loop every few seconds for the retries, started when the server is ready and
 * stopped when it closes.
 */
export default fp(
  async function ltiScoresPlugin(app) {
    const { db } = app;
    // SQLite has one serving process (db/serving-lock.ts), which makes every score row: until one exists, a save skips
    // even the look-up. On PostgreSQL another process may have made one: always look.
    let anyRows = db.dialect === 'postgres' || (await anyScoreRows(startupReads(db)));
    let running: Promise<void> | undefined;
    let again = false;
    let closed = false;

    const report = (err: unknown) => {
      const fault = faultOf(err);
      if (fault) app.databaseOutages.found(fault, err);
      else app.log.error({ err, event: 'lti_scores_error' }, 'could not send the pending LTI scores');
    };

    const sendDue = (now?: number) => sendDueScores(db, app.secret, { log: app.log, ...(now === undefined ? {} : { now: () => now }) });

    /** Sends what is due, once at a time per process: a kick while a round runs asks for one more. */
    const kick = () => {
      if (closed) return;
      if (running) {
        again = true;
        return;
      }
      running = (async () => {
        do {
          again = false;
          await sendDue();
        } while (again && !closed);
      })()
        .catch(report)
        .finally(() => (running = undefined));
    };

    const ltiScores: LtiScores = {
      async launched(launch, platform, userId, courseId, log) {
        const ags = launch.ags;
        // Gradebooks take learners' scores: staff trying a link get none.
        if (!ags || !launch.learner) return;
        const about = { event: 'lti_score_skipped', issuer: platform.issuer, resourceLink: launch.resourceLink.id, userId };
        if (!ags.lineitem) return log.info(about, 'no score passback: the link has no line item (Folio does not create line items)');
        if (!ags.scopes.includes(ltiScopes.score)) return log.info({ ...about, lineitem: ags.lineitem }, 'no score passback: the platform did not grant the score scope');
        const toc = app.books.toc(launch.book.id);
        const page = targetPage(toc, launch.targetLinkUri);
        if (!page) return log.warn({ ...about, lineitem: ags.lineitem, targetLinkUri: launch.targetLinkUri }, 'no score passback: the target_link_uri names no page');
        const target = {
          userId,
          issuer: platform.issuer,
          clientId: platform.clientId,
          deploymentId: launch.deploymentId,
          sub: launch.sub,
          resourceLinkId: launch.resourceLink.id,
          lineitem: ags.lineitem,
          scopes: ags.scopes,
          bookId: launch.book.id,
          page,
          courseId,
        };
        const pending = await recordScoreTarget(db, tocIndex(toc), target);
        anyRows = true;
        if (pending) kick();
      },
      async workChanged(owner, change) {
        if (!anyRows) return;
        if ((await rescoreAfterWork(db, tocIndex(app.books.toc(owner.bookId)), owner.userId, owner.bookId, change)) > 0) kick();
      },
      sendDue,
      async idle() {
        while (running) await running;
      },
    };
    app.decorate('ltiScores', ltiScores);

    let timer: NodeJS.Timeout | undefined;
    app.addHook('onReady', async () => {
      timer = setInterval(() => {
        if (anyRows) kick();
        else anyScoreRows(db).then((any) => void (anyRows ||= any), report);
      }, scoreSenderEveryMs);
      timer.unref();
    });
    app.addHook('onClose', async () => {
      closed = true;
      clearInterval(timer);
      await ltiScores.idle();
    });
  },
  {
    name: 'folio-lti-scores',
    fastify: '5.x',
    dependencies: ['folio-config', 'folio-db', 'folio-errors', 'folio-books'],
    decorators: { fastify: ['config', 'db', 'secret', 'databaseOutages', 'books'] },
  },
);
