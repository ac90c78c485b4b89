import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

/** The API's BullMQ producers, one per queue of the registry, sharing one Redis connection. */
export interface QueueSet {
  /** The queue named `name`; throws for a name the registry does not know. */
  get(name: string): Queue;
  all(): readonly Queue[];
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
    names.map((name) => [
      name,
      // BullMQ's own events stream is not Conveyor's status stream (that is pub/sub): keep it short.
      new Queue(name, { connection, prefix, streams: { events: { maxLen: 1_000 } } }),
    ]),
  );
  const list = [...queues.values()];
  return {
    get(name) {
      const queue = queues.get(name);
      if (!queue) throw new Error(`no queue named ${name}`);
      return queue;
    },
    all: () => list,
    async close() {
      await Promise.all(list.map((q) => q.close()));
    },
  };
}
