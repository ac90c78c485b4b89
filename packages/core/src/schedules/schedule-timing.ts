import { CronExpressionParser } from 'cron-parser';
import type { FieldIssue } from '../errors/index.js';

/** When a schedule runs: a cron pattern in a time zone, or a fixed interval; optionally bounded. */
export interface ScheduleTiming {
  cron: string | null;
  tz: string | null;
  everyMs: number | null;
  startAt: Date | null;
  endAt: Date | null;
  /** Most runs in total; null: unbounded. */
  limit: number | null;
  /** Runs made so far. */
  runCount: number;
}

/** True when `tz` names a time zone this runtime knows (IANA names and their aliases, `UTC`). */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks a cron pattern and time zone with the parser BullMQ itself uses (cron-parser), and
 * says which of the two is wrong. Empty when both are fine.
 */
export function cronIssues(cron: string, tz: string): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const zoneOk = isTimeZone(tz);
  if (!zoneOk) {
    issues.push({
      path: 'tz',
      message: `unknown time zone "${tz}"; use an IANA name like Europe/Paris or UTC`,
    });
  }
  try {
    const expression = CronExpressionParser.parse(cron, zoneOk ? { tz } : {});
    // A pattern that parses yet never fires (e.g. 30 February) fails here.
    expression.next();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    issues.push({ path: 'cron', message: `invalid cron pattern "${cron}": ${reason}` });
  }
  return issues;
}

/**
 * The next `count` run times of a schedule after `from`, as BullMQ will produce them:
 * a cron pattern fires at its next match strictly after max(from, startAt), read in `tz`;
 * an interval schedule fires at `intervalNext` (BullMQ's next run, when known) or at once,
 * then every `everyMs`. Runs after endAt or beyond the limit are left out.
 *
 * @example
 * nextRunTimes({ cron: '0 9 * * 1-5', tz: 'Europe/Paris', … }, new Date('2026-03-27T12:00:00Z'), 3);
 * // 2026-03-30T07:00:00Z, 2026-03-31T07:00:00Z, 2026-04-01T07:00:00Z (09:00 in Paris, after the DST change)
 */
export function nextRunTimes(
  timing: ScheduleTiming,
  from: Date,
  count: number,
  intervalNext?: number,
): Date[] {
  const left = timing.limit === null ? count : Math.min(count, Math.max(0, timing.limit - timing.runCount));
  const runs: Date[] = [];
  const end = timing.endAt?.getTime() ?? Number.POSITIVE_INFINITY;
  const start = timing.startAt && timing.startAt > from ? timing.startAt : from;
  if (timing.cron !== null) {
    try {
      const expression = CronExpressionParser.parse(timing.cron, {
        tz: timing.tz ?? 'UTC',
        currentDate: start,
      });
      while (runs.length < left) {
        const next = expression.next().getTime();
        if (next > end) break;
        runs.push(new Date(next));
      }
    } catch {
      // No further match (or an unreadable stored pattern): no more runs to show.
    }
    return runs;
  }
  if (timing.everyMs === null) return runs;
  let next = intervalNext ?? start.getTime();
  while (runs.length < left && next <= end) {
    runs.push(new Date(next));
    next += timing.everyMs;
  }
  return runs;
}
