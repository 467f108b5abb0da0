import type { Static } from 'typebox';
import type { CommonAnswer } from '../schemas/reports.js';

/**
 * What a question's summary (GET /api/courses/:course/questions/:question/summary, db/course-reports.ts) tells of the
 * students' latest answers beyond the counts: the most common answers of the kinds a person types, and which choices
 * of a choice question are the correct ones, as far as the stored attempts say.
 */

/** A student's latest answer to a question, as the summary's common answers and marked choices read it. */
export interface LatestAnswerRow {
  kind: string;
  /** The kind's answer as stored (JSON). */
  answer: string;
  correct: 0 | 1 | null;
}

/** The kinds whose answers are text a person types: their most common answers are listed. */
const textKinds = new Set(['fitb', 'shortanswer', 'codelens']);
/** How many of the most common answers the summary lists, and how much of each it shows. */
export const commonAnswersShown = 10;
const shownLength = 200;

/** An answer of a text kind as one line of text (a fill-in-the-blank's blanks separated by " | "), or undefined for another shape. */
function textOf(kind: string, answer: unknown): string | undefined {
  if (kind === 'shortanswer' && typeof answer === 'string') return answer;
  if (kind === 'fitb' && Array.isArray(answer)) return answer.map((blank) => String(blank).trim()).join(' | ');
  if (kind === 'codelens' && typeof answer === 'object' && answer !== null && typeof (answer as { answer?: unknown }).answer === 'string') return (answer as { answer: string }).answer;
  return undefined;
}

/** Spaces collapsed and ends trimmed: how an answer is shown. */
const tidy = (text: string) => text.replace(/\s+/g, ' ').trim();
/** What counts as the same answer: tidied, Unicode-normalised (NFKC), case-folded. */
const sameAs = (text: string) => tidy(text.normalize('NFKC')).toLowerCase();

/**
 * For the text kinds (fitb, shortanswer, codelens), the most common of the students' latest answers: grouped once
 * tidied and case-folded, each shown as its most common spelling (at most 200 characters), with how many students
 * gave it and whether it is correct when the stored attempts say so (true or false when every marked attempt of the
 * group agrees; left out when none is marked or they disagree). Most given first, at most `commonAnswersShown`; null
 * for other kinds. `distinct`: how many different answers there are in all.
 */
export function commonAnswers(kind: string | null, latest: readonly LatestAnswerRow[]): { answers: Static<typeof CommonAnswer>[]; distinct: number } | null {
  if (kind === null || !textKinds.has(kind)) return null;
  const groups = new Map<string, { count: number; spellings: Map<string, number>; right: number; wrong: number }>();
  for (const row of latest) {
    if (row.kind !== kind) continue;
    const text = textOf(kind, JSON.parse(row.answer));
    if (text === undefined) continue;
    const key = sameAs(text);
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { count: 0, spellings: new Map(), right: 0, wrong: 0 }));
    group.count++;
    const spelling = tidy(text);
    group.spellings.set(spelling, (group.spellings.get(spelling) ?? 0) + 1);
    if (row.correct === 1) group.right++;
    if (row.correct === 0) group.wrong++;
  }
  const answers = [...groups.values()]
    .map((g) => {
      const [shown] = [...g.spellings].sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0))[0]!;
      const answer = shown.length > shownLength ? `${shown.slice(0, shownLength - 1)}…` : shown;
      const correct = g.right > 0 && g.wrong === 0 ? true : g.wrong > 0 && g.right === 0 ? false : undefined;
      return { answer, count: g.count, ...(correct === undefined ? {} : { correct }) };
    })
    .sort((a, b) => b.count - a.count || (a.answer < b.answer ? -1 : a.answer > b.answer ? 1 : 0));
  return { answers: answers.slice(0, commonAnswersShown), distinct: answers.length };
}

/**
 * The distribution of choices with each choice marked correct when the stored attempts tell it: a choice in a latest
 * answer marked correct is a correct one; once some answer is marked correct, a choice in none is not. Nothing is
 * marked when no latest answer is marked correct (a poll, or nobody right yet).
 */
export function markChoices(distribution: { choice: string; count: number }[] | null, latest: readonly LatestAnswerRow[]): { choice: string; count: number; correct?: boolean }[] | null {
  if (distribution === null) return null;
  const right = new Set<string>();
  for (const row of latest) {
    if (row.correct !== 1) continue;
    const answer = JSON.parse(row.answer) as unknown;
    for (const choice of Array.isArray(answer) ? answer : [answer]) right.add(String(choice));
  }
  if (right.size === 0) return distribution;
  return distribution.map((d) => ({ ...d, correct: right.has(d.choice) }));
}
