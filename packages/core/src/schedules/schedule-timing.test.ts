import { describe, expect, it } from 'vitest';
import { cronIssues, isTimeZone, nextRunTimes, type ScheduleTiming } from './schedule-timing.js';

const timing = (over: Partial<ScheduleTiming>): ScheduleTiming => ({
  cron: null,
  tz: null,
  everyMs: null,
  startAt: null,
  endAt: null,
  limit: null,
  runCount: 0,
  ...over,
});
const iso = (dates: Date[]) => dates.map((d) => d.toISOString());

describe('cron and time zone checks', () => {
  it('accepts 5- and 6-field patterns, aliases and IANA zones', () => {
    expect(cronIssues('0 9 * * 1-5', 'Europe/Paris')).toEqual([]);
    expect(cronIssues('*/10 * * * * *', 'UTC')).toEqual([]);
    expect(cronIssues('@daily', 'America/New_York')).toEqual([]);
    expect(isTimeZone('UTC')).toBe(true);
  });

  it('says which of the two is wrong', () => {
    expect(cronIssues('61 * * * *', 'UTC')).toEqual([
      { path: 'cron', message: expect.stringContaining('expected range 0-59') },
    ]);
    expect(cronIssues('0 9 * * *', 'Mars/Base')).toEqual([
      { path: 'tz', message: expect.stringContaining('unknown time zone "Mars/Base"') },
    ]);
    expect(cronIssues('every day', 'Nowhere').map((i) => i.path)).toEqual(['tz', 'cron']);
  });
});

describe('next run times', () => {
  it('reads a cron pattern in its time zone, across a daylight-saving change (the README example)', () => {
    const from = new Date('2026-03-27T12:00:00Z'); // a Friday
    const runs = nextRunTimes(timing({ cron: '0 9 * * 1-5', tz: 'Europe/Paris' }), from, 4);
    // 09:00 in Paris: UTC+1 until Sunday 29 March, UTC+2 after.
    expect(iso(runs)).toEqual([
      '2026-03-30T07:00:00.000Z',
      '2026-03-31T07:00:00.000Z',
      '2026-04-01T07:00:00.000Z',
      '2026-04-02T07:00:00.000Z',
    ]);
    const winter = nextRunTimes(
      timing({ cron: '0 9 * * 1-5', tz: 'Europe/Paris' }),
      new Date('2026-03-20T12:00:00Z'),
      1,
    );
    expect(iso(winter)).toEqual(['2026-03-23T08:00:00.000Z']);
  });

  it('starts after startAt and stops at endAt and at the run limit', () => {
    const from = new Date('2026-01-01T00:00:00Z');
    expect(
      iso(
        nextRunTimes(
          timing({ cron: '0 * * * *', tz: 'UTC', startAt: new Date('2026-01-01T05:30:00Z') }),
          from,
          2,
        ),
      ),
    ).toEqual(['2026-01-01T06:00:00.000Z', '2026-01-01T07:00:00.000Z']);
    expect(
      nextRunTimes(
        timing({ cron: '0 * * * *', tz: 'UTC', endAt: new Date('2026-01-01T02:00:00Z') }),
        from,
        5,
      ),
    ).toHaveLength(2);
    expect(
      nextRunTimes(timing({ cron: '0 * * * *', tz: 'UTC', limit: 10, runCount: 8 }), from, 5),
    ).toHaveLength(2);
  });

  it('spaces interval runs from the next one BullMQ holds, or from now', () => {
    const from = new Date('2026-01-01T00:00:00Z');
    expect(iso(nextRunTimes(timing({ everyMs: 60_000 }), from, 2, from.getTime() + 5_000))).toEqual([
      '2026-01-01T00:00:05.000Z',
      '2026-01-01T00:01:05.000Z',
    ]);
    expect(iso(nextRunTimes(timing({ everyMs: 1_000 }), from, 2))).toEqual([
      '2026-01-01T00:00:00.000Z',
      '2026-01-01T00:00:01.000Z',
    ]);
  });
});
