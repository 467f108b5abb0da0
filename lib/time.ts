/**
 * toISOString for times that mostly come in order (exports): the date and time up to the second are kept from the
 * previous call, since formatting dates is a good part of an export's time.
 */
export function isoTimes(): (ms: number) => string {
  let second = Number.NaN;
  let prefix = '';
  return (ms) => {
    const s = Math.floor(ms / 1000);
    if (s !== second) [second, prefix] = [s, new Date(s * 1000).toISOString().slice(0, -4)];
    const milli = ms - s * 1000;
    return `${prefix}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
  };
}

/** What `since` and `until` take, in the API and the CLI: a date (midnight UTC) or a date-time with a zone. */
export const instantPattern = '^\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:\\d{2}))?$';
const instant = new RegExp(instantPattern);

/** Milliseconds since the epoch of such a date or date-time, or undefined when it is malformed or no real day (2026-02-30). */
export function parseInstant(text: string): number | undefined {
  if (!instant.test(text)) return undefined;
  const [year, month, day] = text.slice(0, 10).split('-').map(Number) as [number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}
