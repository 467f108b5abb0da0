/**
 * Services some tests need besides the database (Redis, Debian's Chromium), treated as scripts/test.ts treats
 * PostgreSQL: when one is absent its tests are skipped with one line saying what and how to enable them, unless its
 * FOLIO_TEST_REQUIRE_* variable is set (as .ci/run does), and then the run fails saying why.
 */
export type ServiceDecision = { run: true } | { skip: string } | { fail: string };

export function serviceDecision(opts: {
  /** What is missing and why, or undefined when the service is there. */
  missing: string | undefined;
  /** The tests that need it, e.g. "the Redis rate-limit test". */
  tests: string;
  /** How to make it available. */
  enable: string;
  requireVar: string;
  env?: NodeJS.ProcessEnv;
}): ServiceDecision {
  const { missing, tests, enable, requireVar, env = process.env } = opts;
  if (missing === undefined) return { run: true };
  if (env[requireVar]) return { fail: `${missing}, and ${requireVar} is set: ${tests} cannot run (${enable})` };
  return { skip: `${missing}: skipped ${tests}; ${enable} to run them (${requireVar}=1 makes this a failure)` };
}
