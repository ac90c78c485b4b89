import { type Database, jobs, type ScheduleRow } from '@conveyor/core/db';
import { queueJobId, statusOfState } from '@conveyor/core/jobs';
import {
  isScheduleActive,
  nextRunTimes,
  type ScheduleRunView,
  type ScheduleView,
  type TickData,
} from '@conveyor/core/schedules';
import { and, eq, inArray } from 'drizzle-orm';
import type { JobTypeRegistry } from '../job-types/job-type-registry.js';
import { orUnavailable } from '../jobs/unavailable.js';
import type { QueueSet } from '../queues.js';

/** Next run times shown per schedule. */
const NEXT_RUNS = 5;

/**
 * Schedules as the API shows them: the next run times (a cron pattern's from the pattern in
 * its zone; an interval's from BullMQ's next run), and on request the last runs with their
 * jobs' current status (Postgres for finished ones, BullMQ for the rest).
 */
export function createScheduleViews({
  registry,
  database,
  queues,
}: {
  registry: JobTypeRegistry;
  database: Database;
  queues: QueueSet;
}) {
  const schedulerQueue = queues.internal<TickData>('schedules');

  async function intervalNext(row: ScheduleRow): Promise<number | undefined> {
    if (row.everyMs === null) return undefined;
    try {
      queues.assertConnected();
      return (await schedulerQueue.getJobScheduler(row.id))?.next ?? undefined;
    } catch {
      return undefined;
    }
  }

  async function lastRuns(row: ScheduleRow): Promise<ScheduleRunView[]> {
    const ids = row.recentRuns.map((r) => r.jobId);
    if (ids.length === 0) return [];
    const finished = await orUnavailable('Postgres', () =>
      database.db
        .select({ id: jobs.id, status: jobs.status })
        .from(jobs)
        .where(and(eq(jobs.tenant, row.tenant), inArray(jobs.id, ids))),
    );
    const statusOf = new Map<string, string>(finished.map((r) => [r.id, r.status]));
    const queueName = registry.get(row.type)?.queue;
    const known = queueName !== undefined && queues.groups().some((g) => g.name === queueName);
    await Promise.all(
      ids
        .filter((id) => !statusOf.has(id))
        .map(async (id) => {
          const jobId = queueJobId(row.tenant, id);
          const queue = known ? queues.forJob(queueName, jobId) : undefined;
          const state = await queue?.getJobState(jobId).catch(() => 'unknown' as const);
          // Neither in Postgres nor in Redis: removed (its row pruned), so unknown.
          statusOf.set(id, !state || state === 'unknown' ? 'unknown' : (statusOfState[state] ?? 'unknown'));
        }),
    );
    return row.recentRuns.map((run) => ({
      jobId: run.jobId,
      scheduledAt: run.at,
      status: statusOf.get(run.jobId) ?? 'unknown',
      links: { job: `/v1/jobs/${run.jobId}` },
    }));
  }

  async function view(row: ScheduleRow, { withRuns = false } = {}): Promise<ScheduleView> {
    const active = isScheduleActive(row);
    const next = active
      ? nextRunTimes(
          {
            cron: row.cron,
            tz: row.tz,
            everyMs: row.everyMs,
            startAt: row.startAt,
            endAt: row.endAt,
            limit: row.runLimit,
            runCount: row.runCount,
          },
          new Date(),
          NEXT_RUNS,
          await intervalNext(row),
        )
      : [];
    const o = row.jobOptions;
    return {
      id: row.id,
      name: row.name,
      type: row.type,
      data: row.data,
      cron: row.cron,
      tz: row.tz,
      everyMs: row.everyMs,
      startAt: row.startAt?.toISOString() ?? null,
      endAt: row.endAt?.toISOString() ?? null,
      limit: row.runLimit,
      paused: row.paused,
      priority: o.priority ?? null,
      attempts: o.attempts ?? null,
      timeoutMs: o.timeoutMs ?? null,
      ttlMs: o.ttlMs ?? null,
      metadata: o.metadata ?? null,
      callbackUrl: o.callbackUrl ?? null,
      state: row.paused ? 'paused' : active ? 'active' : 'finished',
      runCount: row.runCount,
      lastRunAt: row.lastRunAt?.toISOString() ?? null,
      nextRuns: next.map((d) => d.toISOString()),
      ...(withRuns ? { lastRuns: await lastRuns(row) } : {}),
      revision: row.revision,
      createdAt: row.createdAt.toISOString(),
      updatedAt: row.updatedAt.toISOString(),
      links: { self: `/v1/schedules/${row.id}` },
    };
  }

  return view;
}
