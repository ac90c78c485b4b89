import type { Database } from '@conveyor/core/db';
import { pingRedis } from '@conveyor/core/redis';
import { Hono } from 'hono';
import type { Redis } from 'ioredis';
import type { ApiEnv } from '../api-env.js';

/** How long a readiness probe waits for each dependency. */
const PROBE_TIMEOUT_MS = 1_000;

async function check(probe: () => Promise<void>): Promise<string> {
  try {
    await probe();
    return 'ok';
  } catch (error) {
    return error instanceof Error ? error.message : 'unreachable';
  }
}

/** Liveness (the process answers) and readiness (Redis and Postgres answer). */
export function healthRoutes({ redis, database }: { redis: Redis; database: Database }): Hono<ApiEnv> {
  return new Hono<ApiEnv>()
    .get('/health/live', (c) => c.json({ status: 'ok' }))
    .get('/health/ready', async (c) => {
      const [redisStatus, postgresStatus] = await Promise.all([
        check(() => pingRedis(redis, PROBE_TIMEOUT_MS)),
        check(() => database.ping(PROBE_TIMEOUT_MS)),
      ]);
      const ready = redisStatus === 'ok' && postgresStatus === 'ok';
      return c.json(
        { status: ready ? 'ok' : 'unavailable', checks: { redis: redisStatus, postgres: postgresStatus } },
        ready ? 200 : 503,
      );
    });
}
