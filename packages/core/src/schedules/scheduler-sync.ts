import type { JobSchedulerJson, Queue, RepeatOptions } from 'bullmq';
import { eq, sql } from 'drizzle-orm';
import type { Database } from '../db/connect.js';
import { type ScheduleRow, schedules } from '../db/schema.js';
import { REMOVE_ON_FAIL } from '../jobs/job-options.js';
import { isUuid, nameUuid } from '../jobs/name-uuid.js';

/** What a tick job (on the `schedules` queue) carries: which schedule to run, nothing else. */
export interface TickData {
  scheduleId: string;
  tenant: string;
  /** The row's revision when the BullMQ scheduler was written, to tell a stale scheduler. */
  revision: number;
}

/** The BullMQ job name of every tick. */
export const TICK_JOB_NAME = 'tick';

/** Advisory lock class of one schedule's sync (second key: hashtext of the schedule id). */
export const SCHEDULE_LOCK_CLASS = 7_302_418;
/** Advisory lock of the reconciler: one at a time across every worker process. */
export const RECONCILE_LOCK_ID = 7_302_418_554;

/** A schedule runs again unless it is paused, used up its limit, or is past its endAt. */
export function isScheduleActive(row: ScheduleRow, now = new Date()): boolean {
  if (row.paused) return false;
  if (row.runLimit !== null && row.runCount >= row.runLimit) return false;
  return row.endAt === null || row.endAt.getTime() >= now.getTime();
}

/**
 * The id of the job one run of a schedule submits: derived from the schedule and the time
 * the run was due, so handling the same tick twice names the same job.
 */
export function scheduledJobId(scheduleId: string, dueAt: number): string {
  return nameUuid('schedule', scheduleId, String(dueAt));
}

/** The due time of a tick from its BullMQ id (`repeat:<schedulerId>:<millis>`). */
export function tickDueAt(bullJobId: string | undefined): number | undefined {
  const millis = Number(bullJobId?.slice(bullJobId.lastIndexOf(':') + 1));
  return bullJobId?.startsWith('repeat:') && Number.isSafeInteger(millis) ? millis : undefined;
}

function repeatOptions(row: ScheduleRow): Omit<RepeatOptions, 'key'> {
  return {
    ...(row.cron === null ? { every: row.everyMs ?? 0 } : { pattern: row.cron, tz: row.tz ?? 'UTC' }),
    ...(row.startAt ? { startDate: row.startAt.getTime() } : {}),
    ...(row.endAt ? { endDate: row.endAt.getTime() } : {}),
  };
}

function matches(existing: JobSchedulerJson<TickData>, row: ScheduleRow): boolean {
  const wanted = repeatOptions(row);
  return (
    existing.pattern === wanted.pattern &&
    existing.tz === wanted.tz &&
    existing.every === wanted.every &&
    existing.startDate === wanted.startDate &&
    existing.endDate === wanted.endDate &&
    existing.template?.data?.revision === row.revision
  );
}

export type SyncOutcome = 'upserted' | 'removed' | 'unchanged';

/**
 * Makes BullMQ's job schedulers follow the `schedules` table (the source of truth):
 * one scheduler per active schedule, with the schedule's id as scheduler id, so writing it
 * again is idempotent and never a second copy.
 */
export interface SchedulerSync {
  /**
   * Brings one schedule's scheduler in line with its row (removing it when the row is gone
   * or inactive). Serialised per schedule by an advisory lock and reading the row inside
   * it, so concurrent syncs end with the latest row's scheduler.
   */
  syncOne(id: string): Promise<SyncOutcome>;
  /**
   * Syncs every schedule and removes schedulers no row accounts for. Resolves null at once
   * when another process is reconciling.
   */
  reconcileAll(): Promise<Record<SyncOutcome | 'failed', number> | null>;
}

export function createSchedulerSync({
  database,
  queue,
}: {
  database: Database;
  /** The `schedules` queue. */
  queue: Queue<TickData>;
}): SchedulerSync {
  /**
   * @param known the scheduler as a listing just read it (undefined: there is none), so a
   * reconcile does not read each one again; absent: read it now.
   */
  async function apply(
    id: string,
    row: ScheduleRow | undefined,
    known?: { scheduler: JobSchedulerJson<TickData> | undefined },
  ): Promise<SyncOutcome> {
    if (!row || !isScheduleActive(row)) {
      if (known && !known.scheduler) return 'unchanged';
      return (await queue.removeJobScheduler(id)) ? 'removed' : 'unchanged';
    }
    const existing = known ? known.scheduler : await queue.getJobScheduler(id);
    if (existing && matches(existing, row)) return 'unchanged';
    await queue.upsertJobScheduler(id, repeatOptions(row), {
      name: TICK_JOB_NAME,
      data: { scheduleId: row.id, tenant: row.tenant, revision: row.revision },
      opts: {
        attempts: 5,
        backoff: { type: 'exponential', delay: 500 },
        removeOnComplete: true,
        removeOnFail: REMOVE_ON_FAIL,
      },
    });
    return 'upserted';
  }

  async function syncOne(id: string): Promise<SyncOutcome> {
    // Not a schedule id at all: nothing in Postgres can account for it.
    if (!isUuid(id)) return apply(id, undefined);
    return database.db.transaction(async (tx) => {
      // Bounded: a reconcile holding this schedule's lock while Redis is slow must not hold an
      // API request past a known time (the API leaves the sync to the reconciler then).
      await tx.execute(sql`set local lock_timeout = '2s'`);
      await tx.execute(sql`select pg_advisory_xact_lock(${SCHEDULE_LOCK_CLASS}, hashtext(${id}))`);
      const row = await tx.query.schedules.findFirst({ where: eq(schedules.id, id) });
      return apply(id, row);
    });
  }

  return {
    syncOne,
    async reconcileAll() {
      // One connection for the whole run (so it works with a pool of one): the global lock
      // lasts the transaction; each schedule's lock (the one syncOne takes) only its own sync,
      // which runs in a savepoint so a failure cannot leave that lock held.
      return database.db.transaction(async (tx) => {
        const [lock] = await tx.execute<{ locked: boolean }>(
          sql`select pg_try_advisory_xact_lock(${RECONCILE_LOCK_ID}) as locked`,
        );
        if (!lock?.locked) return null;
        const rows = await tx.select({ id: schedules.id }).from(schedules);
        const schedulers = new Map((await queue.getJobSchedulers(0, -1)).map((s) => [s.key, s]));
        const ids = new Set([...rows.map((r) => r.id), ...schedulers.keys()]);
        const counts: Record<SyncOutcome | 'failed', number> = {
          upserted: 0,
          removed: 0,
          unchanged: 0,
          failed: 0,
        };
        for (const id of ids) {
          const locked = isUuid(id);
          if (locked) await tx.execute(sql`select pg_advisory_lock(${SCHEDULE_LOCK_CLASS}, hashtext(${id}))`);
          try {
            const outcome = await tx.transaction(async (step) =>
              apply(
                id,
                locked ? await step.query.schedules.findFirst({ where: eq(schedules.id, id) }) : undefined,
                { scheduler: schedulers.get(id) },
              ),
            );
            counts[outcome]++;
          } catch {
            // One schedule's trouble (Redis refused it) does not stop the others; the next run retries it.
            counts.failed++;
          } finally {
            if (locked) {
              await tx.execute(sql`select pg_advisory_unlock(${SCHEDULE_LOCK_CLASS}, hashtext(${id}))`);
            }
          }
        }
        return counts;
      });
    },
  };
}
