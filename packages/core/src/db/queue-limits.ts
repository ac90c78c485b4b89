import type { QueueLimitsDeclaration } from '@conveyor/sdk';
import type { Queue } from 'bullmq';
import { and, eq } from 'drizzle-orm';
import type { Db } from './connect.js';
import { appliedJobTypes, readJobTypes } from './job-types.js';
import { queueLimits } from './schema.js';

/** A queue's limits across every worker, on top of each process's WORKER_CONCURRENCY. */
export interface QueueLimits {
  /** At most `max` jobs started per `durationMs`, across all workers; null: none. */
  rateLimit: { max: number; durationMs: number } | null;
  /** At most this many jobs running at once, across all workers; null: none. */
  concurrency: number | null;
}

/** Who set a queue's limits: an operator through the API, or the queue's job types. */
export type QueueLimitsSetBy = 'operator' | 'declared';

/** A queue's limits as recorded, and who set them. */
export interface RecordedQueueLimits extends QueueLimits {
  setBy: QueueLimitsSetBy;
}

export const NO_LIMITS: QueueLimits = { rateLimit: null, concurrency: null };

/** A job type's declaration as limits: what it leaves out, it does not limit. */
export function declaredQueueLimits(declared: QueueLimitsDeclaration): QueueLimits {
  return { rateLimit: declared.rateLimit ?? null, concurrency: declared.concurrency ?? null };
}

/** The limit too small to give each of `partitions` at least 1, if one is. */
export function limitsBelowPartitions(
  limits: QueueLimits,
  partitions: number,
): 'concurrency' | 'rateLimit.max' | undefined {
  if (limits.concurrency !== null && limits.concurrency < partitions) return 'concurrency';
  if (limits.rateLimit !== null && limits.rateLimit.max < partitions) return 'rateLimit.max';
  return undefined;
}

/** `total` split over `parts` as evenly as it goes, the first ones taking the remainder. */
function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

/**
 * Applies `limits` to the BullMQ queues of one queue (its meta, which every worker reads as
 * it takes a job): a partitioned queue's limits are split over its partitions, so together
 * they hold the queue's (each partition gets at least what the split gives it). Idempotent.
 */
export async function applyQueueLimits(partitions: readonly Queue[], limits: QueueLimits): Promise<void> {
  const count = partitions.length;
  const short = limitsBelowPartitions(limits, count);
  if (short)
    throw new Error(
      `${short} of ${short === 'concurrency' ? limits.concurrency : limits.rateLimit?.max} cannot be split over ${count} partitions`,
    );
  const concurrency = limits.concurrency === null ? undefined : split(limits.concurrency, count);
  const rate = limits.rateLimit === null ? undefined : split(limits.rateLimit.max, count);
  await Promise.all(
    partitions.map(async (queue, i) => {
      const c = concurrency?.[i];
      const r = rate?.[i];
      await (c === undefined ? queue.removeGlobalConcurrency() : queue.setGlobalConcurrency(c));
      await (r === undefined || limits.rateLimit === null
        ? queue.removeGlobalRateLimit()
        : queue.setGlobalRateLimit(r, limits.rateLimit.durationMs));
    }),
  );
}

const fromRow = (row: typeof queueLimits.$inferSelect): RecordedQueueLimits => ({
  rateLimit:
    row.rateMax === null || row.rateDurationMs === null
      ? null
      : { max: row.rateMax, durationMs: row.rateDurationMs },
  concurrency: row.concurrency,
  setBy: row.setBy,
});

const toValues = (queue: string, limits: QueueLimits, setBy: QueueLimitsSetBy) => ({
  queue,
  rateMax: limits.rateLimit?.max ?? null,
  rateDurationMs: limits.rateLimit?.durationMs ?? null,
  concurrency: limits.concurrency,
  setBy,
  updatedAt: new Date(),
});

/**
 * The record of queue limits (`queue_limits`), the one place that reads and writes it: the
 * API records an operator's limits, workers record what their job types declare, and both
 * apply the record to Redis with applyQueueLimits. An operator's row wins: a declaration
 * never overwrites it.
 */
export function createQueueLimitRecord(db: Db) {
  return {
    async read(): Promise<Map<string, RecordedQueueLimits>> {
      const rows = await db.select().from(queueLimits);
      return new Map(rows.map((row) => [row.queue, fromRow(row)]));
    },

    /** Records an operator's limits for `queue` (they win over any declaration). */
    async set(queue: string, limits: QueueLimits): Promise<void> {
      const values = toValues(queue, limits, 'operator');
      await db
        .insert(queueLimits)
        .values(values)
        .onConflictDoUpdate({ target: queueLimits.queue, set: values });
    },

    /** Drops an operator's limits of `queue` (the whole row): a declaration may take its place. */
    async clear(queue: string): Promise<void> {
      await db.delete(queueLimits).where(eq(queueLimits.queue, queue));
    },

    /**
     * What the registered job types declare for their queues, by queue: each type's applied
     * version, as the API validates with (of two types of a queue, the first by name).
     */
    async registeredDeclarations(): Promise<Map<string, QueueLimitsDeclaration>> {
      const declared = new Map<string, QueueLimitsDeclaration>();
      for (const { applied } of appliedJobTypes(await readJobTypes(db))) {
        const limits = applied.options.queueLimits;
        if (limits && !declared.has(applied.queue)) declared.set(applied.queue, limits);
      }
      return declared;
    },

    /**
     * Records what the job types of `queue` declare (none: a declaration recorded before is
     * removed), unless an operator set the queue's limits; writes only what changed. Answers
     * the queue's limits now, whoever set them.
     */
    async declare(queue: string, declared: QueueLimitsDeclaration | undefined): Promise<QueueLimits> {
      const read = async () => {
        const [row] = await db.select().from(queueLimits).where(eq(queueLimits.queue, queue));
        return row ? fromRow(row) : undefined;
      };
      const current = await read();
      if (current?.setBy === 'operator') return current;
      const next = declared === undefined ? undefined : declaredQueueLimits(declared);
      if (sameLimits(current, next)) return current ?? NO_LIMITS;
      if (next === undefined) {
        await db
          .delete(queueLimits)
          .where(and(eq(queueLimits.queue, queue), eq(queueLimits.setBy, 'declared')));
      } else {
        const values = toValues(queue, next, 'declared');
        // An operator's row written since the read stays: the update applies to a declared row only.
        await db
          .insert(queueLimits)
          .values(values)
          .onConflictDoUpdate({
            target: queueLimits.queue,
            set: values,
            setWhere: eq(queueLimits.setBy, 'declared'),
          });
      }
      return (await read()) ?? NO_LIMITS;
    },
  };
}

/** Whether two queues' limits (either absent) limit alike. */
function sameLimits(a: QueueLimits | undefined, b: QueueLimits | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return (
    a.concurrency === b.concurrency &&
    a.rateLimit?.max === b.rateLimit?.max &&
    a.rateLimit?.durationMs === b.rateLimit?.durationMs
  );
}

export type QueueLimitRecord = ReturnType<typeof createQueueLimitRecord>;
