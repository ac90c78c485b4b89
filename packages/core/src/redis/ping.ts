import { withTimeout } from '../errors/with-timeout.js';
import { bullQueueKey } from '../jobs/bullmq-vocabulary.js';
import type { RedisClient } from './connect.js';

/**
 * Pings Redis, and reads one key of each of `queues` (their BullMQ meta key) under `prefix`:
 * a server that answers PING may still not serve them (a cluster node that answers MOVED to
 * a single-node connection, a cluster that is down or missing a slot). Rejects at once when
 * the connection is down, with the first error a queue got, or after `timeoutMs`.
 */
export async function pingRedis(
  redis: RedisClient,
  timeoutMs = 1_000,
  { prefix, queues }: { prefix: string; queues: readonly string[] } = { prefix: '', queues: [] },
): Promise<void> {
  if (redis.status !== 'ready') throw new Error(`Redis connection is ${redis.status}`);
  await withTimeout(
    Promise.all([
      redis.ping(),
      ...queues.map((queue) =>
        redis.exists(bullQueueKey(prefix, queue, redis, 'meta')).catch((error: unknown) => {
          throw new Error(`queue ${queue}: ${error instanceof Error ? error.message : String(error)}`);
        }),
      ),
    ]),
    timeoutMs,
    'Redis',
  );
}
