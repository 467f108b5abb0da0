import type { FastifyBaseLogger, FastifyReply } from 'fastify';
import type { Database } from '../db/index.js';
import { enrol } from '../db/courses.js';
import { listPlatforms, type LtiPlatform } from '../db/lti.js';
import { ltiUser } from '../db/lti-launch.js';
import { ltiUserIds, rosterContexts, unenrolLtiEnrolments, type RosterContext } from '../db/lti-roster.js';
import { mappedRoles } from './lti-launch.js';
import { LtiServiceError, ltiScopes, serviceRequest } from './lti-services.js';

/**
 * Roster sync by the LTI Names and Role Provisioning Services (NRPS 2.0): Folio reads the memberships of a course's LMS
 * context(s) and enrols the learners (via 'lti'), so the course's reports list students before they first open the
 * book. Learners only: staff get their place on their own launch, where the platform vouches for their role in a
 * signed id_token (a roster entry grants reading every student's work, which a list fetched in the background should
 * not). A member the platform lists as Inactive or Deleted loses an enrolment an LMS made, never one made with a join
 * code, by staff or from a roster file. Members who simply left the list are kept: a partial list must not empty a course.
 *
 * Everything is read before anything changes, and every change is idempotent (ltiUser and enrol tolerate a launch of
 * the same person at the same moment), so a sync may run beside launches and beside another sync.
 */

export const membershipContainerType = 'application/vnd.ims.lti-nrps.v2.membershipcontainer+json';
/** At most this many pages are read from one context (a loop in the platform's links ends here too). */
export const maxRosterPages = 1000;
/** An instructor's launch starts a sync of its course at most this often (per server process). */
export const launchSyncIntervalMs = 10 * 60_000;

/** A sync that could not be done: `reason` a short code, the message saying what to do. */
export class RosterSyncError extends Error {
  override name = 'RosterSyncError';
  constructor(
    readonly reason: 'no_context' | 'no_platform' | 'platform' | 'reply',
    message: string,
  ) {
    super(message);
  }
}

/** What a sync did. */
export interface RosterSummary {
  /** The LMS contexts read. */
  contexts: number;
  pages: number;
  /** Members listed (each once). */
  members: number;
  /** Learners enrolled now. */
  enrolled: number;
  /** Learners who were enrolled already (in any way). */
  alreadyEnrolled: number;
  /** Inactive or Deleted members whose enrolment by the LMS ended. */
  unenrolled: number;
  /** Members left as they were: staff, other roles, inactive ones without an LMS enrolment, entries without a user_id. */
  skipped: number;
  /** False when a context had more than maxRosterPages pages (or its links looped): the members read were synced. */
  complete: boolean;
}

interface Member {
  userId: string;
  roles: string[];
  status: string;
  name: string | undefined;
  email: string | undefined;
}

const text = (value: unknown): string | undefined => (typeof value === 'string' && value.length > 0 ? value : undefined);

/** A member entry of a membership container, or undefined when it names nobody. */
function memberOf(entry: unknown): Member | undefined {
  if (entry === null || typeof entry !== 'object') return undefined;
  const m = entry as Record<string, unknown>;
  const userId = text(m['user_id']);
  if (!userId) return undefined;
  const name = text(m['name']) ?? ([text(m['given_name']), text(m['family_name'])].filter(Boolean).join(' ') || undefined);
  const roles = Array.isArray(m['roles']) ? m['roles'].filter((r): r is string => typeof r === 'string') : [];
  return { userId, roles, status: text(m['status']) ?? 'Active', name: name?.slice(0, 200), email: text(m['email'])?.slice(0, 254) };
}

/** The URL of a Link header's rel="next" (RFC 8288), resolved against the page's URL. */
export function nextLink(header: string | null, base: string): string | undefined {
  if (!header) return undefined;
  for (const link of header.split(/,(?=\s*<)/)) {
    const match = /^\s*<([^>]*)>(.*)$/.exec(link);
    if (!match) continue;
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))/i.exec(match[2]!);
    if ((rel?.[1] ?? rel?.[2] ?? '').toLowerCase().split(/\s+/).includes('next')) return new URL(match[1]!, base).href;
  }
  return undefined;
}

export interface SyncOptions {
  /** Called after each page: pages and members read so far in this context, and whether another page follows. */
  onPage?: (progress: { context: string; pages: number; members: number; more: boolean }) => void;
  fetchImpl?: typeof fetch;
}

/** The registrations that may read a context: its issuer's, with its deployment (several when an issuer registered Folio more than once). */
async function platformsFor(db: Database, context: RosterContext): Promise<LtiPlatform[]> {
  const found = (await listPlatforms(db)).filter((p) => p.issuer === context.issuer && p.deployments.includes(context.deploymentId));
  if (found.length === 0) {
    throw new RosterSyncError('no_platform', `no registered LTI platform ${context.issuer} has the deployment ${context.deploymentId} any more: register it again with "folio lti platforms add" (see "folio lti platforms list")`);
  }
  return found;
}

/** What a refused or failed read tells the person running the sync. */
function serviceFailure(context: RosterContext, err: LtiServiceError, clientIds: readonly string[] = []): RosterSyncError {
  const advice =
    err.status === undefined || err.status === 408 || err.status === 429 || err.status >= 500
      ? 'the LMS may be down or busy: try again later'
      : `check that Folio's registration in the LMS offers Names and Role Provisioning Services (scope ${ltiScopes.memberships}) and has Folio's keys ("folio lti tool-info")`;
  const tried = clientIds.length > 1 ? ` (each of its registrations was tried, client ids ${clientIds.join(', ')}; the last answer is shown)` : '';
  return new RosterSyncError('platform', `the LMS ${context.issuer} did not give the roster of context ${context.contextId}${tried}: ${err.message}; ${advice}`);
}

/** Reads every page of a context's memberships (at most maxRosterPages), with the first registration the platform answers. */
async function readMemberships(db: Database, secret: string, context: RosterContext, options: SyncOptions): Promise<{ members: Member[]; unnamed: number; pages: number; complete: boolean }> {
  const candidates = await platformsFor(db, context);
  const request = { accept: membershipContainerType };
  const scopes = [ltiScopes.memberships];
  let platform: LtiPlatform | undefined;
  let res: Response | undefined;
  const failures: LtiServiceError[] = [];
  // A context row knows its issuer and deployment, not the client id: of several registrations, the first that the platform answers reads it.
  for (const candidate of candidates) {
    try {
      res = await serviceRequest(db, secret, candidate, scopes, context.membershipsUrl, request, options.fetchImpl);
      platform = candidate;
      break;
    } catch (err) {
      if (!(err instanceof LtiServiceError)) throw err;
      failures.push(err);
    }
  }
  if (!platform || !res) throw serviceFailure(context, failures.at(-1)!, candidates.map((c) => c.clientId));

  const origin = new URL(context.membershipsUrl).origin;
  const seen = new Set<string>();
  const members: Member[] = [];
  let unnamed = 0;
  let url = context.membershipsUrl;
  for (let pages = 1; ; pages++) {
    seen.add(url);
    let body: unknown;
    try {
      body = await res.json();
    } catch {
      throw new RosterSyncError('reply', `the LMS ${context.issuer} answered ${url} with something other than JSON: the roster was not changed`);
    }
    const entries = (body as { members?: unknown } | null)?.members;
    if (!Array.isArray(entries)) throw new RosterSyncError('reply', `the LMS ${context.issuer} answered ${url} without a members list: the roster was not changed`);
    for (const entry of entries) {
      const member = memberOf(entry);
      if (member) members.push(member);
      else unnamed++;
    }
    const next = nextLink(res.headers.get('link'), url);
    // The token goes with each request: a next page elsewhere than the memberships URL's origin is not followed.
    const follow = next !== undefined && new URL(next).origin === origin;
    options.onPage?.({ context: context.contextId, pages, members: members.length + unnamed, more: follow && pages < maxRosterPages && !seen.has(next) });
    if (!follow) return { members, unnamed, pages, complete: next === undefined };
    if (pages >= maxRosterPages || seen.has(next)) return { members, unnamed, pages, complete: false };
    url = next;
    try {
      res = await serviceRequest(db, secret, platform, scopes, url, request, options.fetchImpl);
    } catch (err) {
      if (err instanceof LtiServiceError) throw serviceFailure(context, err);
      throw err;
    }
  }
}

/** Enrols a context's active learners and ends the LMS enrolments of its inactive members; the counts. */
async function applyMembers(db: Database, courseId: string, issuer: string, listed: readonly Member[], unnamed: number) {
  // A member listed twice (pages shifting while read) counts as their last entry.
  const byId = new Map(listed.map((m) => [m.userId, m]));
  const learners: Member[] = [];
  const gone: string[] = [];
  for (const m of byId.values()) {
    if (m.status === 'Inactive' || m.status === 'Deleted') gone.push(m.userId);
    else if (m.status === 'Active') {
      const { staff, learner } = mappedRoles(m.roles);
      if (learner && !staff) learners.push(m);
    }
  }

  let enrolled = 0;
  let alreadyEnrolled = 0;
  for (let i = 0; i < learners.length; i += 500) {
    const batch = learners.slice(i, i + 500);
    const known = await ltiUserIds(db, issuer, batch.map((m) => m.userId));
    const ids: string[] = [];
    for (const m of batch) ids.push(known.get(m.userId) ?? (await ltiUser(db, issuer, m.userId, { name: m.name, email: m.email })).user.id);
    const added = await enrol(db, courseId, ids, 'lti');
    enrolled += added;
    alreadyEnrolled += new Set(ids).size - added;
  }
  const goneUsers = [...(await ltiUserIds(db, issuer, gone)).values()];
  const unenrolled = await unenrolLtiEnrolments(db, courseId, goneUsers);
  return { members: byId.size + unnamed, enrolled, alreadyEnrolled, unenrolled, skipped: byId.size + unnamed - learners.length - unenrolled };
}

/**
 * Syncs a course's students with its LMS context(s) (those whose launches carried the NRPS claim): every page of the
 * memberships is read, then the active learners are enrolled (accounts made for new ones, named as the LMS lists
 * them) and the inactive members' LMS enrolments end. RosterSyncError when the course has no such context, its
 * platform is no longer registered, or the platform does not give the roster (nothing is changed in that context).
 */
export async function syncRoster(db: Database, secret: string, courseId: string, options: SyncOptions = {}): Promise<RosterSummary> {
  const contexts = await rosterContexts(db, courseId);
  if (contexts.length === 0) {
    throw new RosterSyncError(
      'no_context',
      `course ${courseId} has no LMS context with Names and Role Provisioning Services: its roster comes from an instructor's launch from the LMS that offers them (enable the service for Folio in the LMS, then open Folio from the course there)`,
    );
  }
  const summary: RosterSummary = { contexts: contexts.length, pages: 0, members: 0, enrolled: 0, alreadyEnrolled: 0, unenrolled: 0, skipped: 0, complete: true };
  for (const context of contexts) {
    const read = await readMemberships(db, secret, context, options);
    const applied = await applyMembers(db, courseId, context.issuer, read.members, read.unnamed);
    summary.pages += read.pages;
    summary.complete &&= read.complete;
    for (const key of ['members', 'enrolled', 'alreadyEnrolled', 'unenrolled', 'skipped'] as const) summary[key] += applied[key];
  }
  return summary;
}

/**
 * The syncs instructors' launches start: in the background, after the launch's reply is sent, at most one per course
 * every `intervalMs` (per server process, so instructors relaunching do not hammer the LMS). Each is logged as
 * `lti_roster_synced` or `lti_roster_failed`; a failure never reaches the launch.
 */
export class LaunchRosterSyncs {
  readonly #started = new Map<string, number>();
  readonly #running = new Set<Promise<void>>();

  constructor(
    private readonly db: Database,
    private readonly secret: string,
    private readonly intervalMs = launchSyncIntervalMs,
  ) {}

  /** Starts a sync of the course once the reply (a launch's redirect) is sent, logged with the request. */
  afterReply(reply: FastifyReply, courseId: string): void {
    const start = () => void this.start(courseId, reply.log);
    // A browser that went away before the redirect arrived launched all the same.
    reply.then(start, start);
  }

  /** Starts a sync of the course unless one started within the interval; whether it started. */
  start(courseId: string, log: FastifyBaseLogger, now = Date.now()): boolean {
    const last = this.#started.get(courseId);
    if (last !== undefined && now - last < this.intervalMs) {
      log.debug({ event: 'lti_roster_sync_skipped', course: courseId, lastStarted: last }, 'LTI roster synced recently: not again');
      return false;
    }
    for (const [course, at] of this.#started) if (now - at >= this.intervalMs) this.#started.delete(course);
    this.#started.set(courseId, now);
    const started = Date.now();
    const run = syncRoster(this.db, this.secret, courseId).then(
      (summary) => log.info({ event: 'lti_roster_synced', course: courseId, ...summary, ms: Date.now() - started }, 'LTI roster synced'),
      (err: unknown) => log.warn({ event: 'lti_roster_failed', course: courseId, reason: err instanceof RosterSyncError ? err.reason : 'error', error: (err as Error).message }, 'LTI roster sync failed'),
    );
    this.#running.add(run);
    void run.finally(() => this.#running.delete(run));
    return true;
  }

  /** Resolves when the syncs under way have ended (the server closing waits for them). */
  async settled(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running);
  }
}
