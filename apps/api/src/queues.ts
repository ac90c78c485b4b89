import { ConveyorError } from '@conveyor/core/errors';
import { createProducerQueue, internalQueues } from '@conveyor/core/jobs';
import type { RedisClient } from '@conveyor/core/redis';
import type { Queue } from 'bullmq';

/** The API's BullMQ producers, one per queue of the registry, sharing one Redis connection. */
export interface QueueSet {
  /** The BullMQ key prefix of every queue. */
  readonly prefix: string;
  /** The queue named `name`; throws for a name the registry does not know. */
  get(name: string): Queue;
  all(): readonly Queue[];
  /** Every queue's name: the registry's and Conveyor's own. */
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
}

export function createQueueSet({ connection, prefix, names }: QueueSetInit): QueueSet {
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
  for (const name of names()) queue(name);
  const internal = new Map(
    internalQueues.map((name) => {
      const queue = createProducerQueue(name, { connection, prefix });
      return [name, queue] as const;
    }),
  );
  return {
    prefix,
    get(name) {
      if (!names().includes(name)) throw new Error(`no queue named ${name}`);
      return queue(name);
    },
    all: () => names().map(queue),
    names: () => [...names(), ...internalQueues],
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
