import type { Database } from '@conveyor/core/db';
import { pingRedis, type RedisClient } from '@conveyor/core/redis';
import { Hono } from 'hono';
import type { Registry } from 'prom-client';

/**
 * The worker's own HTTP surface, on WORKER_PORT: liveness, readiness (Postgres, and Redis
 * serving every queue the worker consumes) and Prometheus metrics.
 */
export function createWorkerServerApp({
  redis,
  database,
  registry,
  queues = { prefix: '', queues: [] },
}: {
  redis: RedisClient;
  database: Database;
  registry: Registry;
  /** The queues the worker consumes, under their prefix: readiness reads a key of each. */
  queues?: { prefix: string; queues: readonly string[] };
}): Hono {
  const check = async (probe: () => Promise<void>) => {
    try {
      await probe();
      return 'ok';
    } catch (error) {
      return error instanceof Error ? error.message : 'unreachable';
    }
  };
  return new Hono()
    .get('/health/live', (c) => c.json({ status: 'ok' }))
    .get('/health/ready', async (c) => {
      const [redisStatus, postgresStatus] = await Promise.all([
        check(() => pingRedis(redis, 1_000, queues)),
        check(() => database.ping(1_000)),
      ]);
      const ready = redisStatus === 'ok' && postgresStatus === 'ok';
      return c.json(
        { status: ready ? 'ok' : 'unavailable', checks: { redis: redisStatus, postgres: postgresStatus } },
        ready ? 200 : 503,
      );
    })
    .get('/metrics', async (c) =>
      c.text(await registry.metrics(), 200, { 'Content-Type': registry.contentType }),
    );
}
