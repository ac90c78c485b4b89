import {
  applyQueueLimits,
  createQueueLimitRecord,
  type Database,
  limitsBelowPartitions,
  NO_LIMITS,
  type QueueLimits,
  type RecordedQueueLimits,
} from '@conveyor/core/db';
import { ConveyorError } from '@conveyor/core/errors';
import { QUEUE_LIMIT_BOUNDS } from '@conveyor/sdk';
import type { Queue } from 'bullmq';
import * as v from 'valibot';
import { orUnavailable } from './jobs/unavailable.js';

export { NO_LIMITS, type QueueLimits, type RecordedQueueLimits };

const positive = ({ min, max }: { min: number; max: number }, what: string) =>
  v.pipe(
    v.number(),
    v.integer(`must be a whole number of ${what}`),
    v.minValue(min, `must be at least ${min} (0 would stop the queue: pause it instead)`),
    v.maxValue(max, `must be at most ${max}`),
  );

/** The body of PUT /v1/queues/:name/limits: each limit, or null to remove it; absent keeps it. */
export const queueLimitsBody = v.strictObject({
  rateLimit: v.optional(
    v.pipe(
      v.nullable(
        v.strictObject({
          max: v.pipe(
            positive(QUEUE_LIMIT_BOUNDS.rateMax, 'jobs'),
            v.description('Most jobs started per window.'),
          ),
          durationMs: v.pipe(
            v.number(),
            v.integer('must be a whole number of milliseconds'),
            v.minValue(
              QUEUE_LIMIT_BOUNDS.rateDurationMs.min,
              `must be at least ${QUEUE_LIMIT_BOUNDS.rateDurationMs.min} ms`,
            ),
            v.maxValue(
              QUEUE_LIMIT_BOUNDS.rateDurationMs.max,
              `must be at most a day (${QUEUE_LIMIT_BOUNDS.rateDurationMs.max} ms)`,
            ),
            v.description('The window, in milliseconds.'),
          ),
        }),
      ),
      v.description('At most `max` jobs started per `durationMs` across every worker; null removes it.'),
    ),
  ),
  concurrency: v.optional(
    v.pipe(
      v.nullable(positive(QUEUE_LIMIT_BOUNDS.concurrency, 'jobs')),
      v.description('At most this many jobs running at once across every worker; null removes it.'),
    ),
  ),
});

/**
 * The API's side of queue limits: an operator's changes recorded (createQueueLimitRecord, the
 * record's owner) and applied to BullMQ's queue meta in Redis at once (which every worker
 * reads as it takes a job), and `reconcile`, which re-applies the record after a Redis loss.
 */
export function createQueueLimits({ database }: { database: Database }) {
  const record = createQueueLimitRecord(database.db);
  const read = (): Promise<Map<string, RecordedQueueLimits>> =>
    orUnavailable('Postgres', () => record.read());
  const apply = (partitions: readonly Queue[], limits: QueueLimits) =>
    orUnavailable('Redis', () => applyQueueLimits(partitions, limits));

  return {
    read,
    apply,
    /** Records and applies an operator's new limits for `queue` (fields left out keep their value). */
    async set(
      name: string,
      partitions: readonly Queue[],
      change: v.InferOutput<typeof queueLimitsBody>,
    ): Promise<RecordedQueueLimits> {
      const current = (await read()).get(name) ?? NO_LIMITS;
      const next: QueueLimits = {
        rateLimit: change.rateLimit === undefined ? current.rateLimit : change.rateLimit,
        concurrency: change.concurrency === undefined ? current.concurrency : change.concurrency,
      };
      const field = limitsBelowPartitions(next, partitions.length);
      if (field) {
        throw new ConveyorError(
          'VALIDATION_FAILED',
          `invalid limits: queue ${name} has ${partitions.length} partitions, each needs at least 1 of ${field}`,
          { issues: [{ path: field, message: `must be at least ${partitions.length} (one per partition)` }] },
        );
      }
      await orUnavailable('Postgres', () => record.set(name, next));
      await apply(partitions, next);
      return { ...next, setBy: 'operator' };
    },
    /**
     * Drops an operator's limits of `queue`; what its registered job types declare, if any,
     * applies in their place at once.
     */
    async clear(name: string, partitions: readonly Queue[]): Promise<QueueLimits> {
      const now = await orUnavailable('Postgres', async () => {
        await record.clear(name);
        return record.declare(name, (await record.registeredDeclarations()).get(name));
      });
      if (limitsBelowPartitions(now, partitions.length)) {
        throw new ConveyorError(
          'VALIDATION_FAILED',
          `queue ${name}: its job types declare limits smaller than its ${partitions.length} partitions`,
        );
      }
      await apply(partitions, now);
      return now;
    },
    /** Re-applies every recorded queue's limits to Redis (idempotent). */
    async reconcile(partitionsOf: (queue: string) => readonly Queue[] | undefined): Promise<void> {
      for (const [name, limits] of await read()) {
        const partitions = partitionsOf(name);
        if (partitions && !limitsBelowPartitions(limits, partitions.length)) await apply(partitions, limits);
      }
    },
  };
}

export type QueueLimitStore = ReturnType<typeof createQueueLimits>;
