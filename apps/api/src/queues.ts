import { ConveyorError } from '@conveyor/core/errors';
import { createProducerQueue, internalQueues } from '@conveyor/core/jobs';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

/** The API's BullMQ producers, one per queue of the registry, sharing one Redis connection. */
export interface QueueSet {
  /** The BullMQ key prefix of every queue. */
  readonly prefix: string;
  /** The queue named `name`; throws for a name the registry does not know. */
  get(name: string): Queue;
  all(): readonly Queue[];
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
  connection: Redis;
  prefix: string;
  names: readonly string[];
}

export function createQueueSet({ connection, prefix, names }: QueueSetInit): QueueSet {
  const queues = new Map(
    names.map((name) => {
      const queue = createProducerQueue(name, { connection, prefix });
      return [name, queue] as const;
    }),
  );
  const list = [...queues.values()];
  const internal = new Map(
    internalQueues.map((name) => {
      const queue = createProducerQueue(name, { connection, prefix });
      return [name, queue] as const;
    }),
  );
  return {
    prefix,
    get(name) {
      const queue = queues.get(name);
      if (!queue) throw new Error(`no queue named ${name}`);
      return queue;
    },
    all: () => list,
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
      await Promise.all([...list, ...internal.values()].map((q) => q.close()));
    },
  };
}
