import { type Database, queueLimits } from '@conveyor/core/db';
import { ConveyorError } from '@conveyor/core/errors';
import type { Queue } from 'bullmq';
import * as v from 'valibot';
import { orUnavailable } from './jobs/unavailable.js';

/** A queue's limits across every worker, on top of each process's WORKER_CONCURRENCY. */
export interface QueueLimits {
  /** At most `max` jobs started per `durationMs`, across all workers; null: none. */
  rateLimit: { max: number; durationMs: number } | null;
  /** At most this many jobs running at once, across all workers; null: none. */
  concurrency: number | null;
}

export const NO_LIMITS: QueueLimits = { rateLimit: null, concurrency: null };

const positive = (max: number, what: string) =>
  v.pipe(
    v.number(),
    v.integer(`must be a whole number of ${what}`),
    v.minValue(1, `must be at least 1 (0 would stop the queue: pause it instead)`),
    v.maxValue(max, `must be at most ${max}`),
  );

/** The body of PUT /v1/queues/:name/limits: each limit, or null to remove it; absent keeps it. */
export const queueLimitsBody = v.strictObject({
  rateLimit: v.optional(
    v.pipe(
      v.nullable(
        v.strictObject({
          max: v.pipe(positive(1_000_000, 'jobs'), v.description('Most jobs started per window.')),
          durationMs: v.pipe(
            v.number(),
            v.integer('must be a whole number of milliseconds'),
            v.minValue(100, 'must be at least 100 ms'),
            v.maxValue(86_400_000, 'must be at most a day (86400000 ms)'),
            v.description('The window, in milliseconds.'),
          ),
        }),
      ),
      v.description('At most `max` jobs started per `durationMs` across every worker; null removes it.'),
    ),
  ),
  concurrency: v.optional(
    v.pipe(
      v.nullable(positive(100_000, 'jobs')),
      v.description('At most this many jobs running at once across every worker; null removes it.'),
    ),
  ),
});

/** `total` split over `parts` as evenly as it goes, the first ones taking the remainder. */
function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

/**
 * The limits' owner: persisted in Postgres (`queue_limits`, the record), applied to BullMQ's
 * queue meta in Redis (which every worker reads as it takes a job, so a change holds within
 * its next fetch), and re-applied from Postgres by `reconcile` (after a Redis loss).
 */
export function createQueueLimits({ database }: { database: Database }) {
  async function read(): Promise<Map<string, QueueLimits>> {
    const rows = await orUnavailable('Postgres', () => database.db.select().from(queueLimits));
    return new Map(
      rows.map((row) => [
        row.queue,
        {
          rateLimit:
            row.rateMax === null || row.rateDurationMs === null
              ? null
              : { max: row.rateMax, durationMs: row.rateDurationMs },
          concurrency: row.concurrency,
        },
      ]),
    );
  }

  /**
   * Applies `limits` to the BullMQ queues of one queue: a partitioned queue's limits are split
   * over its partitions, so together they hold the queue's (each partition needs at least 1).
   */
  async function apply(partitions: readonly Queue[], limits: QueueLimits): Promise<void> {
    const count = partitions.length;
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

  return {
    read,
    apply,
    /** Records and applies new limits for `queue` (fields left out keep their value). */
    async set(
      name: string,
      partitions: readonly Queue[],
      change: v.InferOutput<typeof queueLimitsBody>,
    ): Promise<QueueLimits> {
      const current = (await read()).get(name) ?? NO_LIMITS;
      const next: QueueLimits = {
        rateLimit: change.rateLimit === undefined ? current.rateLimit : change.rateLimit,
        concurrency: change.concurrency === undefined ? current.concurrency : change.concurrency,
      };
      for (const [field, value] of [
        ['concurrency', next.concurrency],
        ['rateLimit.max', next.rateLimit?.max ?? null],
      ] as const) {
        if (value !== null && value < partitions.length) {
          throw new ConveyorError(
            'VALIDATION_FAILED',
            `invalid limits: queue ${name} has ${partitions.length} partitions, each needs at least 1 of ${field}`,
            {
              issues: [{ path: field, message: `must be at least ${partitions.length} (one per partition)` }],
            },
          );
        }
      }
      const values = {
        queue: name,
        rateMax: next.rateLimit?.max ?? null,
        rateDurationMs: next.rateLimit?.durationMs ?? null,
        concurrency: next.concurrency,
        updatedAt: new Date(),
      };
      await orUnavailable('Postgres', () =>
        database.db
          .insert(queueLimits)
          .values(values)
          .onConflictDoUpdate({ target: queueLimits.queue, set: values }),
      );
      await orUnavailable('Redis', () => apply(partitions, next));
      return next;
    },
    /** Re-applies every recorded queue's limits to Redis (idempotent). */
    async reconcile(partitionsOf: (queue: string) => readonly Queue[] | undefined): Promise<void> {
      for (const [name, limits] of await read()) {
        const partitions = partitionsOf(name);
        if (partitions) await apply(partitions, limits);
      }
    },
  };
}

export type QueueLimitStore = ReturnType<typeof createQueueLimits>;
