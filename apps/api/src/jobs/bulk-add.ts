import type { BatchItemResult } from '@conveyor/core/jobs';
import type { RedisClient } from '@conveyor/core/redis';
import type { QueueSet } from '../queues.js';
import type { PreparedJob } from './prepare-submit.js';

/** A batch item to enqueue and its line in the batch's answer. */
export interface BulkEntry {
  job: PreparedJob;
  item: BatchItemResult;
}

/**
 * Enqueues a batch with one `addBulk` (one pipeline, one round trip) per BullMQ queue (partition). A pipeline is
 * not a transaction: when one fails, each of its jobs is probed, and its item says `failed`
 * (not in Redis) or `unknown` (the probe failed too), with the reason. Resolves to whether
 * every job landed.
 */
export async function addInBulk(
  queues: QueueSet,
  redis: RedisClient,
  entries: readonly BulkEntry[],
): Promise<boolean> {
  const byQueue = new Map<string, BulkEntry[]>();
  for (const entry of entries) {
    const group = byQueue.get(entry.job.queue);
    if (group) group.push(entry);
    else byQueue.set(entry.job.queue, [entry]);
  }
  let complete = true;
  await Promise.all(
    [...byQueue].map(async ([queueName, group]) => {
      const queue = queues.get(queueName);
      try {
        await queue.addBulk(
          group.map(({ job }) => ({ name: job.definition.name, data: job.envelope, opts: job.options })),
        );
      } catch (error) {
        complete = false;
        const reason = error instanceof Error ? error.message : String(error);
        const landed = await Promise.all(
          group.map(({ job }) => redis.exists(queue.toKey(job.options.jobId ?? '')).catch(() => -1)),
        ).catch(() => group.map(() => -1));
        group.forEach(({ item }, n) => {
          const exists = landed[n];
          if (exists === 1) return;
          item.outcome = exists === 0 ? 'failed' : 'unknown';
          item.error = reason;
          delete item.status;
        });
      }
    }),
  );
  return complete;
}
