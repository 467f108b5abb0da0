import type { ExperimentReport, ExperimentSummary } from '../db/experiments.js';
import { table } from './courses.js';

/** What `folio experiments` prints: the list, a definition, the report. */

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** One experiment as `folio experiments list --json` gives it (no salt). */
export function listedExperiment(e: ExperimentSummary) {
  return {
    id: e.id,
    book: e.bookId,
    status: e.status,
    variants: e.counts,
    courses: e.courses,
    startsAt: iso(e.startsAt),
    endsAt: iso(e.endsAt),
    consentOnly: e.consentOnly,
    stoppedAt: iso(e.stoppedAt),
    createdAt: iso(e.createdAt),
  };
}

const variantsText = (e: ExperimentSummary) => e.counts.map((v) => `${v.name}:${v.weight}`).join(',');
const exposedText = (e: ExperimentSummary) => e.counts.map((v) => `${v.name} ${v.exposed}`).join(', ');

/** The table `folio experiments list` prints. */
export function experimentTable(found: readonly ExperimentSummary[]): string {
  return table([
    ['ID', 'BOOK', 'STATUS', 'VARIANTS', 'FOR', 'EXPOSED'],
    ...found.map((e) => [
      e.id,
      e.bookId,
      e.status,
      variantsText(e),
      [e.courses ? `courses ${e.courses.join(',')}` : 'every student', e.consentOnly ? 'consenting only' : ''].filter(Boolean).join(', '),
      exposedText(e),
    ]),
  ]);
}

/** What `folio experiments add` and `stop` print about an experiment. */
export function describeExperiment(e: ExperimentSummary): string {
  const window = e.startsAt !== null || e.endsAt !== null ? `, assigning from ${iso(e.startsAt) ?? 'now'} to ${iso(e.endsAt) ?? 'its stop'}` : '';
  const who = `${e.courses ? `students of ${e.courses.join(', ')}` : 'every student of the book'}${e.consentOnly ? ' who gave research consent' : ''}`;
  return `experiment ${e.id} of book ${e.bookId} (${e.status}): variants ${variantsText(e)}; for ${who}${window}; exposed: ${exposedText(e)}`;
}

const fixed = (x: number | null, digits = 3) => (x === null ? '-' : x.toFixed(digits));
const pValue = (p: number) => (p < 0.0001 ? p.toExponential(2) : p.toFixed(4));

/** The text `folio experiments report` prints. */
export function reportText(r: ExperimentReport): string {
  const lines = [
    `experiment ${r.experiment} (book ${r.book}): consenting students exposed, on ${r.pages.length === 0 ? 'no page (no exposure recorded a page: give --page)' : `page(s) ${r.pages.join(', ')}`}`,
    r.excluded > 0 ? `(${r.excluded} exposed student(s) without research consent left out)` : '(no exposed student left out)',
    '',
    table([
      ['VARIANT', 'STUDENTS', 'SCORED', 'MEAN SCORE', 'COMPLETED', 'COMPLETION'],
      ...r.variants.map((v) => [v.variant, String(v.students), String(v.scored), fixed(v.meanScore), String(v.completed), v.completion === null ? '-' : `${(v.completion * 100).toFixed(1)}%`]),
    ]),
    '',
  ];
  for (const c of r.comparisons) {
    lines.push(`${c.variant} against ${c.against}:`);
    lines.push(
      c.score
        ? `  mean score: Welch's t-test, two-sided: t = ${c.score.statistic.toFixed(3)}, df = ${c.score.df!.toFixed(1)}, p = ${pValue(c.score.p)}`
        : '  mean score: no test (a group has fewer than two scored students, or no variance)',
    );
    lines.push(
      c.completion
        ? `  completion: two-proportion z-test (pooled), two-sided: z = ${c.completion.statistic.toFixed(3)}, p = ${pValue(c.completion.p)}`
        : '  completion: no test (a group is empty, or everybody or nobody completed)',
    );
  }
  lines.push(
    '',
    "Welch's t-test assumes independent students and roughly normal group means (fine from a few dozen students a group unless",
    'scores are very skewed), not equal variances. The z-test assumes independent students and groups large enough for the normal',
    'approximation (about 5 or more completions and non-completions in each). Each variant is compared with the first, without',
    'correction for several comparisons: a screen for effects worth a proper analysis of the export, not that analysis.',
  );
  return lines.join('\n');
}
