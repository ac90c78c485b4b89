import type { Redis } from 'ioredis';
import { withTimeout } from '../errors/with-timeout.js';

/** Pings Redis; rejects at once when the connection is down, or after `timeoutMs`. */
export async function pingRedis(redis: Redis, timeoutMs = 1_000): Promise<void> {
  if (redis.status !== 'ready') throw new Error(`Redis connection is ${redis.status}`);
  await withTimeout(redis.ping(), timeoutMs, 'Redis');
}
