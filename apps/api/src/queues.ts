import { ConveyorError } from '@conveyor/core/errors';
import {
  createProducerQueue,
  internalQueues,
  logicalQueueName,
  partitionFor,
  partitionNames,
  type QueuePartitions,
} from '@conveyor/core/jobs';
import type { RedisClient } from '@conveyor/core/redis';
import type { Queue } from 'bullmq';

/**
 * The API's BullMQ producers, one per queue of the registry (one per partition of a
 * partitioned queue: see QUEUE_PARTITIONS), sharing one Redis connection.
 */
export interface QueueSet {
  /** The BullMQ key prefix of every queue. */
  readonly prefix: string;
  /**
   * The BullMQ queue named `name` (a queue, or one of its partitions, as in `job.queueName`);
   * throws for a name the registry does not know.
   */
  get(name: string): Queue;
  /** The BullMQ queue a job with BullMQ id `queueJobId` of queue `queue` goes to (its partition). */
  forJob(queue: string, queueJobId: string): Queue;
  /** Every BullMQ queue of the registry's queues, every partition of each. */
  all(): readonly Queue[];
  /** The registry's queues, each with its partitions (one for a queue not partitioned). */
  groups(): readonly { name: string; partitions: readonly Queue[] }[];
  /** Every BullMQ queue's name: the registry's (every partition) and Conveyor's own. */
  names(): readonly string[];
  /** The producer of one of Conveyor's own queues (`schedules`, `callbacks`); not in all(). */
  internal<T>(name: (typeof internalQueues)[number]): Queue<T>;
  /**
   * Throws a retryable UNAVAILABLE at once unless the Redis connection is up. BullMQ waits
   * for a reconnect instead of failing, so without this a submit during an outage would
   * hang until the request timeout.
   */
  assertConnected(): void;
  close(): Promise<void>;
}

export interface QueueSetInit {
  /** A `producer` connection: commands fail fast while Redis is down. */
  connection: RedisClient;
  prefix: string;
  /** The queues of the registered job types, asked for on every use: the registry grows. */
  names: () => readonly string[];
  /** QUEUE_PARTITIONS. @defaultValue none */
  partitions?: QueuePartitions;
}

export function createQueueSet({
  connection,
  prefix,
  names,
  partitions = new Map(),
}: QueueSetInit): QueueSet {
  // Made on first use: a type registered after the API started brings its queue along.
  const queues = new Map<string, Queue>();
  const queue = (name: string): Queue => {
    let found = queues.get(name);
    if (!found) {
      found = createProducerQueue(name, { connection, prefix });
      queues.set(name, found);
    }
    return found;
  };
  // The queues known at start are opened at once, as a Queue writes its events-stream length
  // into the queue's meta only when no process has yet (a worker's would be BullMQ's 10,000).
  const bullNames = () => names().flatMap((name) => partitionNames(name, partitions));
  for (const name of bullNames()) queue(name);
  const internal = new Map(
    internalQueues.map((name) => {
      const queue = createProducerQueue(name, { connection, prefix });
      return [name, queue] as const;
    }),
  );
  return {
    prefix,
    get(name) {
      const logical = logicalQueueName(name);
      if (!names().includes(logical) || !partitionNames(logical, partitions).includes(name)) {
        throw new Error(`no queue named ${name}`);
      }
      return queue(name);
    },
    forJob(name, queueJobId) {
      if (!names().includes(name)) throw new Error(`no queue named ${name}`);
      return queue(partitionFor(name, partitions, queueJobId));
    },
    all: () => bullNames().map(queue),
    groups: () => names().map((name) => ({ name, partitions: partitionNames(name, partitions).map(queue) })),
    names: () => [...bullNames(), ...internalQueues],
    internal<T>(name: (typeof internalQueues)[number]) {
      return internal.get(name) as unknown as Queue<T>;
    },
    assertConnected() {
      if (connection.status !== 'ready') {
        throw new ConveyorError(
          'UNAVAILABLE',
          `Redis is unavailable (connection ${connection.status}), try again shortly`,
          {
            retryable: true,
          },
        );
      }
    },
    async close() {
      await Promise.all([...queues.values(), ...internal.values()].map((q) => q.close()));
    },
  };
}
