import { type Database, jobs } from '@conveyor/core/db';
import { parseOrThrow } from '@conveyor/core/errors';
import type { JobStats, OutcomeCounts } from '@conveyor/core/jobs';
import { and, eq, gte, sql } from 'drizzle-orm';
import * as v from 'valibot';
import { integerParam } from '../pagination.js';
import { orUnavailable } from './unavailable.js';

const MAX_MINUTES = 1_440;

export type { JobStats } from '@conveyor/core/jobs';

/** Query of GET /v1/stats. */
export const jobStatsQuery = v.strictObject({
  minutes: integerParam(
    `The window, in whole minutes back from now: 1 to ${MAX_MINUTES}.`,
    MAX_MINUTES,
    '60',
  ),
});

const zero = (): OutcomeCounts => ({ completed: 0, failed: 0, cancelled: 0, expired: 0 });

/**
 * A tenant's outcomes over the last minutes, from its Postgres rows (every job ends in one, so
 * failed and cancelled are apart, which BullMQ's `failed` set does not keep). One grouped
 * query over the (tenant, finished_at) index.
 */
export function createJobStats({ database }: { database: Database }) {
  return async function stats(tenant: string, rawQuery: Record<string, string>): Promise<JobStats> {
    const { minutes } = parseOrThrow(jobStatsQuery, rawQuery);
    const now = new Date();
    const firstMinute = Math.floor(now.getTime() / 60_000) - minutes + 1;
    const from = new Date(firstMinute * 60_000);
    const minute = sql<Date>`date_trunc('minute', ${jobs.finishedAt})`;
    const rows = await orUnavailable('Postgres', () =>
      database.db
        .select({ minute, status: jobs.status, count: sql<number>`count(*)::int` })
        .from(jobs)
        .where(and(eq(jobs.tenant, tenant), gte(jobs.finishedAt, from)))
        .groupBy(minute, jobs.status),
    );
    const perMinute = Array.from({ length: minutes }, (_, i) => ({
      at: new Date((firstMinute + i) * 60_000).toISOString(),
      ...zero(),
    }));
    const totals = zero();
    for (const { minute: at, status, count } of rows) {
      const bucket = perMinute[Math.floor(new Date(at).getTime() / 60_000) - firstMinute];
      if (bucket) bucket[status] += count;
      totals[status] += count;
    }
    return { minutes, from: from.toISOString(), to: now.toISOString(), totals, perMinute };
  };
}

export type JobStatsReader = ReturnType<typeof createJobStats>;
