import type { Database } from '@conveyor/core/db';
import { pingRedis, type RedisClient } from '@conveyor/core/redis';
import type { Hono } from 'hono';
import type { Registry } from 'prom-client';
import * as v from 'valibot';
import type { ApiEnv } from '../api-env.js';
import { healthSchema } from '../openapi/response-schemas.js';
import type { QueueSet } from '../queues.js';
import { declareRoutes, type Operations } from './declare-routes.js';

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

export const healthOperations = {
  live: {
    method: 'get',
    path: '/health/live',
    operationId: 'live',
    tag: 'Operations',
    summary: 'Liveness: the process answers',
    responses: { 200: { description: 'Alive.', schema: healthSchema } },
  },
  ready: {
    method: 'get',
    path: '/health/ready',
    operationId: 'ready',
    tag: 'Operations',
    summary: 'Readiness: Redis and Postgres answer',
    responses: {
      200: { description: 'Ready.', schema: healthSchema },
      503: { description: 'Redis or Postgres is down; `checks` says which.', schema: healthSchema },
    },
  },
  metrics: {
    method: 'get',
    path: '/metrics',
    operationId: 'metrics',
    tag: 'Operations',
    summary: 'Prometheus metrics',
    description: 'Text exposition format; the metric list is in docs/observability.md.',
    responses: {
      200: { description: 'Prometheus text format.', mediaType: 'text/plain', schema: v.string() },
    },
  },
} satisfies Operations;

/** Liveness (the process answers), readiness (Redis and Postgres answer) and the metrics. Public. */
export function healthRoutes({
  redis,
  queues,
  database,
  metrics,
}: {
  redis: RedisClient;
  /** Readiness reads a key of each queue: a Redis that answers PING may still not serve them. */
  queues: QueueSet;
  database: Database;
  metrics: Registry;
}): Hono<ApiEnv> {
  return declareRoutes(healthOperations, {
    live: (c) => c.json({ status: 'ok' }),
    ready: async (c) => {
      const [redisStatus, postgresStatus] = await Promise.all([
        check(() => pingRedis(redis, PROBE_TIMEOUT_MS, { prefix: queues.prefix, queues: queues.names() })),
        check(() => database.ping(PROBE_TIMEOUT_MS)),
      ]);
      const ready = redisStatus === 'ok' && postgresStatus === 'ok';
      return c.json(
        { status: ready ? 'ok' : 'unavailable', checks: { redis: redisStatus, postgres: postgresStatus } },
        ready ? 200 : 503,
      );
    },
    metrics: async (c) => c.text(await metrics.metrics(), 200, { 'Content-Type': metrics.contentType }),
  });
}
