import { type Database, jobs, readAppliedJobType, type ScheduleRow, schedules } from '@conveyor/core/db';
import {
  type JobEnvelope,
  type JobRegistry,
  type JobTypeOptions,
  jobToEnqueue,
  queueJobId,
} from '@conveyor/core/jobs';
import type { Logger } from '@conveyor/core/log';
import type { RedisClient } from '@conveyor/core/redis';
import { createTenantInFlight } from '@conveyor/core/redis';
import {
  isScheduleActive,
  type SchedulerSync,
  scheduledJobId,
  type TickData,
  tickDueAt,
} from '@conveyor/core/schedules';
import type { Job, Queue } from 'bullmq';
import { and, eq, sql } from 'drizzle-orm';
import type { WorkerMetrics } from '../metrics.js';

/** Runs shown on a schedule (newest first). */
const RECENT_RUNS = 10;
/** How long a type read from the registry is used before it is read again. */
const TYPE_CACHE_MS = 5_000;

/** What a tick needs of its schedule's type: its queue and its run defaults. */
type TickType = Pick<JobTypeOptions, 'queue' | 'timeoutMs' | 'attempts' | 'backoff' | 'ttlMs'> & {
  name: string;
};

export interface ScheduleRunnerDeps {
  database: Database;
  /** This worker's own types; any other registered type is read from Postgres. */
  registry: JobRegistry;
  /** The producer a job of a type's queue goes to (its partition, by its BullMQ id). */
  queueFor(queue: string, queueJobId: string): Queue<JobEnvelope>;
  sync: SchedulerSync;
  /** For the tenant's in-flight counter, which the job's worker decrements when it ends. */
  redis: RedisClient;
  prefix: string;
  logger: Logger;
  metrics?: WorkerMetrics | undefined;
}

type Decision =
  | { run: false; reason: 'deleted' | 'inactive' | 'stale' | 'early' | 'unknown type' }
  | { run: true; row: ScheduleRow; definition: TickType; jobId: string; again: boolean };

/**
 * The processor of the `schedules` queue: turns one tick of a BullMQ job scheduler into the
 * schedule's job. The row is the source of truth and is checked under a row lock first: a
 * tick of a deleted, paused or used-up schedule, or one at or before the last run (a stale
 * scheduler after a crash or a redeploy), submits nothing. The job id comes from the
 * schedule and the due time, so a tick handled twice submits one job.
 *
 * The schedule's type need not be one this worker runs: its queue and defaults come from
 * the registry in Postgres (the version the API applies), so one worker serving `schedules`
 * fires the schedules of every team's types.
 */
export function createScheduleRunner(deps: ScheduleRunnerDeps) {
  const { database, registry, queueFor, sync, logger, metrics } = deps;
  const inFlight = createTenantInFlight(deps.redis, deps.prefix);
  const cached = new Map<string, { at: number; type: TickType | undefined }>();

  async function typeOf(
    tx: Parameters<typeof readAppliedJobType>[0],
    name: string,
  ): Promise<TickType | undefined> {
    const own = registry.get(name);
    if (own) return own;
    const hit = cached.get(name);
    if (hit && Date.now() - hit.at < TYPE_CACHE_MS) return hit.type;
    const row = await readAppliedJobType(tx, name);
    const type = row && { name: row.name, queue: row.queue, ...row.options };
    cached.set(name, { at: Date.now(), type });
    return type;
  }

  return async function runTick(tick: Job<TickData>): Promise<unknown> {
    const { scheduleId } = tick.data;
    const dueAt = tickDueAt(tick.id) ?? tick.timestamp;
    const log = logger.child({ scheduleId, dueAt: new Date(dueAt).toISOString() });

    const decision = await database.db.transaction(async (tx): Promise<Decision> => {
      const [row] = await tx.select().from(schedules).where(eq(schedules.id, scheduleId)).for('update');
      if (!row) return { run: false, reason: 'deleted' };
      const jobId = scheduledJobId(row.id, dueAt);
      const definition = await typeOf(tx, row.type);
      if (!definition) return { run: false, reason: 'unknown type' };
      const last = row.lastRunAt?.getTime();
      // Taken before but maybe not enqueued (the worker died in between): finish it.
      if (last === dueAt) return { run: true, row, definition, jobId, again: true };
      if (last !== undefined && last > dueAt) return { run: false, reason: 'stale' };
      if (!isScheduleActive(row, new Date(dueAt))) return { run: false, reason: 'inactive' };
      if (row.startAt && dueAt < row.startAt.getTime()) return { run: false, reason: 'early' };
      const [updated] = await tx
        .update(schedules)
        .set({
          runCount: sql`${schedules.runCount} + 1`,
          lastRunAt: new Date(dueAt),
          recentRuns: [{ jobId, at: new Date(dueAt).toISOString() }, ...row.recentRuns].slice(0, RECENT_RUNS),
        })
        .where(eq(schedules.id, row.id))
        .returning();
      return { run: true, row: updated ?? row, definition, jobId, again: false };
    });

    if (!decision.run) {
      metrics?.scheduleTicks.inc({ outcome: 'skipped' });
      log.info({ reason: decision.reason }, 'schedule tick skipped');
      // A scheduler that should not exist (deleted, paused, used up): take it away now.
      if (decision.reason === 'deleted' || decision.reason === 'inactive') await sync.syncOne(scheduleId);
      return { skipped: decision.reason };
    }
    const { row, definition, jobId, again } = decision;
    const queue = queueFor(definition.queue, queueJobId(row.tenant, jobId));
    if (again) {
      const done = await database.db.query.jobs.findFirst({
        where: and(eq(jobs.tenant, row.tenant), eq(jobs.id, jobId)),
        columns: { id: true },
      });
      if (done || (await queue.getJob(queueJobId(row.tenant, jobId)))) return { jobId, again: true };
    }
    const options = row.jobOptions;
    const ttlMs = options.ttlMs ?? definition.ttlMs;
    const { envelope, options: bullOptions } = jobToEnqueue(definition, {
      tenant: row.tenant,
      id: jobId,
      input: row.data,
      metadata: options.metadata,
      timeoutMs: options.timeoutMs,
      attempts: options.attempts,
      priority: options.priority,
      at: dueAt,
      expiresAt: ttlMs === undefined ? undefined : dueAt + ttlMs,
      callbackUrl: options.callbackUrl,
      scheduleId: row.id,
    });
    // Counted like a submitted job (the worker that ends it frees the slot), never refused:
    // a schedule is not a burst.
    const entry = { queue: queue.name, jobId: queueJobId(row.tenant, jobId), at: dueAt };
    await inFlight.reserve(row.tenant, [entry]);
    try {
      await queue.add(definition.name, envelope, bullOptions);
    } catch (error) {
      // Not enqueued: its slot is not taken (the tick is retried and reserves again).
      await inFlight.release(row.tenant, [entry]).catch(() => {});
      throw error;
    }
    metrics?.scheduleTicks.inc({ outcome: 'submitted' });
    log.debug({ jobId }, 'schedule tick submitted its job');
    // That was its last run (limit): stop its scheduler rather than tick for nothing.
    if (!isScheduleActive(row)) await sync.syncOne(row.id);
    return { jobId };
  };
}
