/**
 * A queue may be split into partitions (QUEUE_PARTITIONS): N BullMQ queues that clients,
 * the API's listing and the metrics see as one. On a Redis Cluster each partition has a
 * hash tag of its own, so one hot queue spreads over several masters. Partition 0 keeps the
 * queue's own name and partition i is `<queue>.<i>`: a queue grown from 1 to N partitions
 * keeps its jobs, and no queue name (`[a-z][a-z0-9-]*`) can be mistaken for a partition.
 *
 * A job's partition is a hash of its BullMQ id, so every process finds it in the same place
 * and BullMQ's one-job-per-id still holds. Priority and FIFO order hold within a partition
 * only.
 */

/** Partitions per queue, by queue name; a queue not in it has one. */
export type QueuePartitions = ReadonlyMap<string, number>;

/** Most partitions one queue may have. */
export const MAX_PARTITIONS = 64;

const SEPARATOR = '.';

/** The BullMQ queue name of partition `index` of `queue`. */
export function partitionName(queue: string, index: number): string {
  return index === 0 ? queue : `${queue}${SEPARATOR}${index}`;
}

/** The BullMQ queue names of every partition of `queue`, partition 0 first. */
export function partitionNames(queue: string, partitions: QueuePartitions): string[] {
  const count = partitions.get(queue) ?? 1;
  return Array.from({ length: count }, (_, index) => partitionName(queue, index));
}

/** The queue a BullMQ queue name belongs to: itself, or the queue it is a partition of. */
export function logicalQueueName(bullQueueName: string): string {
  const at = bullQueueName.indexOf(SEPARATOR);
  return at === -1 ? bullQueueName : bullQueueName.slice(0, at);
}

/**
 * The BullMQ queue name of the partition job `queueJobId` of `queue` goes to: FNV-1a of the
 * id, modulo the queue's partitions.
 *
 * @example
 * const name = partitionFor('images', partitions, queueJobId(tenant, id)); // 'images.3'
 */
export function partitionFor(queue: string, partitions: QueuePartitions, queueJobId: string): string {
  const count = partitions.get(queue) ?? 1;
  if (count === 1) return queue;
  let hash = 0x811c9dc5;
  for (let i = 0; i < queueJobId.length; i++) {
    hash ^= queueJobId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return partitionName(queue, (hash >>> 0) % count);
}
