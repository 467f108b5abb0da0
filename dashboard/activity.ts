/**
 * A course's activity over time (GET /api/courses/:course/activity), in its overview: "active this week", a uPlot chart
 * of answers, program saves and page views per day (UTC), and the same numbers as a table for those who cannot see the
 * chart. uPlot draws on a canvas and sets its elements' sizes from script (element.style), which the dashboard's CSP
 * allows: it needs no inline style or script; its stylesheet is bundled into dashboard.css. The chart's code (chart.ts)
 * is a module of its own, imported when the chart is drawn.
 */
import { h, replace } from './dom.js';
import type { CourseActivity } from './types.js';

/** The days the overview shows. */
export const activityDays = 30;

// Made at their first use, as grid.ts's formatTime.
let formats: { day: Intl.DateTimeFormat; weekday: Intl.DateTimeFormat } | undefined;
const dates = () => (formats ??= { day: new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeZone: 'UTC' }), weekday: new Intl.DateTimeFormat(undefined, { weekday: 'short', timeZone: 'UTC' }) });
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
/** A day of the reply (YYYY-MM-DD, UTC) as seconds since the epoch, uPlot's time unit. */
const seconds = (day: string) => Date.parse(`${day}T00:00:00Z`) / 1000;

/** The three series: each with its own colour and its own dash, so that they differ without colour too. */
const series = [
  { key: 'answers', label: 'Answers', stroke: '#1a5fb4', dash: undefined },
  { key: 'saves', label: 'Program saves', stroke: '#c64600', dash: [8, 4] },
  { key: 'pageViews', label: 'Page views', stroke: '#26a269', dash: [2, 3] },
] as const;

/** What the chart shows, in words: its aria-label, and the reader's summary. */
export function activitySummary(activity: CourseActivity): string {
  const total = (key: (typeof series)[number]['key']) => activity.days.reduce((sum, d) => sum + d[key], 0);
  const busiest = activity.days.reduce<CourseActivity['days'][number] | undefined>((best, d) => (d.students > (best?.students ?? 0) ? d : best), undefined);
  const first = activity.days[0];
  const last = activity.days.at(-1);
  const range = first && last ? `from ${dates().day.format(Date.parse(first.day))} to ${dates().day.format(Date.parse(last.day))} (UTC)` : '';
  return (
    `Activity ${range}: ${plural(total('answers'), 'answer')}, ${plural(total('saves'), 'program save')}, ${plural(total('pageViews'), 'page view')}. ` +
    (busiest ? `Most students active on ${dates().day.format(Date.parse(busiest.day))}: ${busiest.students}.` : 'No student was active.')
  );
}

/** The numbers of the chart as a table (inside a disclosure): what a screen reader or a keyboard user reads instead of the canvas. */
function activityTable(activity: CourseActivity): HTMLElement {
  return h(
    'details',
    { class: 'activity-numbers' },
    h('summary', {}, 'The numbers, day by day'),
    h(
      'div',
      { class: 'scroll' },
      h(
        'table',
        { class: 'activity-table', id: 'activity-table' },
        h('caption', {}, `Activity per day (UTC), last ${activity.days.length} days`),
        h('thead', {}, h('tr', {}, ['Day (UTC)', 'Answers', 'Program saves', 'Page views', 'Students active'].map((c) => h('th', { scope: 'col' }, c)))),
        h(
          'tbody',
          {},
          activity.days.map((d) =>
            h(
              'tr',
              { 'data-day': d.day },
              h('th', { scope: 'row' }, h('time', { datetime: d.day }, `${dates().weekday.format(Date.parse(d.day))} ${dates().day.format(Date.parse(d.day))}`)),
              h('td', {}, d.answers),
              h('td', {}, d.saves),
              h('td', {}, d.pageViews),
              h('td', {}, d.students),
            ),
          ),
        ),
      ),
    ),
  );
}

/** The chart: drawn once its holder is in the page (uPlot measures nothing itself: the holder's width), redrawn at the new width when it changes. */
function activityChart(activity: CourseActivity): HTMLElement {
  const holder = h('div', { class: 'activity-chart', id: 'activity-chart', role: 'img', 'aria-label': activitySummary(activity) });
  const size = () => ({ width: Math.max(280, holder.clientWidth), height: holder.clientWidth < 500 ? 220 : 280 });
  let plot: Promise<{ resize(size: { width: number; height: number }): void }> | undefined;
  const draw = () => {
    if (!holder.isConnected) return;
    if (plot) return void plot.then((p) => p.resize(size()));
    const days = activity.days.map((d) => seconds(d.day));
    const values = series.map((s) => activity.days.map((d) => d[s.key]));
    plot = import('./chart.js').then((chart) => chart.drawActivity(holder, days, series, values, size()));
    plot.catch((err: unknown) => replace(holder, h('p', { class: 'error' }, `The chart could not be drawn: ${String(err)}`)));
  };
  // Drawn after the screen is in the page; redrawn when the holder's width changes (a phone turned, a window resized).
  new ResizeObserver(() => draw()).observe(holder);
  return holder;
}

/** The overview's activity: active this week, the chart and its table. */
export function activitySection(activity: CourseActivity): HTMLElement {
  return h(
    'div',
    { class: 'activity' },
    h(
      'p',
      { class: 'active-week' },
      'Active this week: ',
      h('strong', { id: 'active-week' }, `${activity.activeThisWeek} of ${activity.enrolled}`),
      ` student${activity.enrolled === 1 ? '' : 's'} (an answer, a program saved, a page viewed or completed in the last 7 days)`,
    ),
    h('h3', { id: 'activity-heading' }, `Activity over the last ${activity.days.length} days`),
    h('p', { class: 'note', id: 'activity-summary' }, activitySummary(activity)),
    activityChart(activity),
    activityTable(activity),
  );
}
