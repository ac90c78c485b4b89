import { Queue } from 'bullmq';
import { queuePrefix, type RedisClient } from '../redis/connect.js';

/**
 * BullMQ's own events stream is not Conveyor's status stream (that is Redis pub/sub), so it
 * is kept short. Every Queue writes this length into its queue's meta when it starts, so all
 * producers of a queue (the API, and workers enqueueing scheduled jobs and deliveries) must
 * use the same value or the last one started wins.
 */
const EVENTS_MAX_LEN = 1_000;

/**
 * A BullMQ Queue that enqueues into `name`, with Conveyor's queue options and the queue's
 * key prefix (`queuePrefix`: a hash tag of its own on a cluster). Connection errors are not
 * reported here: the connection's own listener reports them once.
 *
 * @example
 * const queue = createProducerQueue('default', { connection, prefix: 'conveyor' });
 */
export function createProducerQueue<T = unknown>(
  name: string,
  { connection, prefix }: { connection: RedisClient; prefix: string },
): Queue<T> {
  const queue = new Queue<T>(name, {
    connection,
    prefix: queuePrefix(prefix, name, connection),
    streams: { events: { maxLen: EVENTS_MAX_LEN } },
  });
  queue.on('error', () => {});
  return queue;
}
