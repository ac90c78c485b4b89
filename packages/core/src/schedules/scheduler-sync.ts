import type { JobSchedulerJson, Queue, RepeatOptions } from 'bullmq';
import { eq, sql } from 'drizzle-orm';
import type { Database } from '../db/connect.js';
import { type ScheduleRow, schedules } from '../db/schema.js';
import { nameUuid } from '../jobs/name-uuid.js';

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
const SCHEDULE_LOCK_CLASS = 7_302_418;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
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
  async function apply(id: string, row: ScheduleRow | undefined): Promise<SyncOutcome> {
    if (!row || !isScheduleActive(row)) {
      return (await queue.removeJobScheduler(id)) ? 'removed' : 'unchanged';
    }
    const existing = await queue.getJobScheduler(id);
    if (existing && matches(existing, row)) return 'unchanged';
    await queue.upsertJobScheduler(id, repeatOptions(row), {
      name: TICK_JOB_NAME,
      data: { scheduleId: row.id, tenant: row.tenant, revision: row.revision },
      opts: {
        attempts: 5,
        backoff: { type: 'exponential', delay: 500 },
        removeOnComplete: true,
        removeOnFail: { age: 24 * 3_600, count: 1_000 },
      },
    });
    return 'upserted';
  }

  async function syncOne(id: string): Promise<SyncOutcome> {
    // Not a schedule id at all: nothing in Postgres can account for it.
    if (!UUID.test(id)) return apply(id, undefined);
    return database.db.transaction(async (tx) => {
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
        const schedulers = await queue.getJobSchedulers(0, -1);
        const ids = new Set([...rows.map((r) => r.id), ...schedulers.map((s) => s.key)]);
        const counts: Record<SyncOutcome | 'failed', number> = {
          upserted: 0,
          removed: 0,
          unchanged: 0,
          failed: 0,
        };
        for (const id of ids) {
          const locked = UUID.test(id);
          if (locked) await tx.execute(sql`select pg_advisory_lock(${SCHEDULE_LOCK_CLASS}, hashtext(${id}))`);
          try {
            const outcome = await tx.transaction(async (step) =>
              apply(
                id,
                locked ? await step.query.schedules.findFirst({ where: eq(schedules.id, id) }) : undefined,
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
