/**
 * The activity chart's drawing (uPlot), a module of its own (dist/dashboard/chart.js) that the overview imports when it
 * draws the chart: uPlot's code and its set-up at load (it makes number and date formatters, which load the browser's
 * locale data) are then off the dashboard's first load, which a large course's grid waits for (bench/dashboard.ts).
 */
import uPlot from 'uplot';

/** One line of the chart: its colour and its dash, so that the lines differ without colour too. */
export interface Line {
  label: string;
  stroke: string;
  dash: readonly number[] | undefined;
}

export interface Size {
  width: number;
  height: number;
}

/** Draws the days (seconds since the epoch, UTC days) and one series per line into `holder`; `resize` redraws it at a new size. */
export function drawActivity(holder: HTMLElement, days: number[], lines: readonly Line[], values: number[][], size: Size): { resize(size: Size): void } {
  const plot = new uPlot(
    {
      ...size,
      // The days are UTC days: the axis and the legend say the same dates as the table.
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(5, max)] } },
      series: [
        { label: 'Day (UTC)', value: '{YYYY}-{MM}-{DD}' },
        ...lines.map((line) => ({ label: line.label, stroke: line.stroke, width: 2, ...(line.dash ? { dash: [...line.dash] } : {}), points: { show: days.length <= 31 } })),
      ],
      axes: [{ space: 60 }, { label: 'per day', space: 30, values: (_u, ticks) => ticks.map((v) => (Number.isInteger(v) ? String(v) : '')) }],
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
    },
    [days, ...values],
    holder,
  );
  return { resize: (next) => plot.setSize(next) };
}
