import { Redis, type RedisOptions } from 'ioredis';

/**
 * - `producer`: the API's queues. Commands fail at once while Redis is down (no offline
 *   queue), so a submit answers 503 instead of hanging.
 * - `worker`: BullMQ workers, which block on Redis and must retry forever
 *   (`maxRetriesPerRequest: null`, as BullMQ requires).
 * - `subscriber`: pub/sub listeners; reconnects and resubscribes by itself.
 */
export type RedisRole = 'producer' | 'worker' | 'subscriber';

const roleOptions: Record<RedisRole, RedisOptions> = {
  producer: { enableOfflineQueue: false, maxRetriesPerRequest: 1, enableAutoPipelining: true },
  worker: { maxRetriesPerRequest: null, enableAutoPipelining: true },
  subscriber: { maxRetriesPerRequest: null },
};

/** Opens an ioredis connection configured for `role`. Never use ioredis keyPrefix with BullMQ. */
export function createRedis(url: string, role: RedisRole, name = `conveyor-${role}`): Redis {
  return new Redis(url, {
    ...roleOptions[role],
    connectionName: name,
    connectTimeout: 5_000,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  });
}

/** Resolves once the connection is ready (at once if it already is); rejects after `timeoutMs`. */
export function redisReady(redis: Redis, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new Error(`Redis was not ready within ${timeoutMs} ms (connection ${redis.status})`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    redis.once('ready', onReady);
  });
}
