import { setTimeout as delay } from 'node:timers/promises';
import { loadConfig, workerEnv } from '@conveyor/core/config';
import { createDatabase, migrateDatabase } from '@conveyor/core/db';
import { ConveyorError } from '@conveyor/core/errors';
import { createJobRegistry } from '@conveyor/core/jobs';
import { createLogger } from '@conveyor/core/log';
import { createRedis } from '@conveyor/core/redis';
import { serve } from '@hono/node-server';
import { Registry } from 'prom-client';
import { createConveyorWorker } from './conveyor-worker.js';
import { createHandlers, testingHandlers } from './handlers/index.js';
import { startHistoryPruner } from './history-pruner.js';
import { createWorkerMetrics } from './metrics.js';
import { createAddressGuard } from './net/address-guard.js';
import { createWorkerServerApp } from './worker-server.js';

/**
 * How long a shutdown may run past its grace period (handing running jobs back, the last
 * result writes, closing connections) before the process exits anyway.
 */
const SHUTDOWN_MARGIN_MS = 3_000;
/** Longest wait at start for the job types to be registered before serving health. */
const REGISTRATION_WAIT_MS = 10_000;

async function main(): Promise<void> {
  const config = loadConfig(workerEnv, process.env);
  const logger = createLogger({ name: 'conveyor-worker', level: config.LOG_LEVEL });
  if (config.MIGRATE_ON_START) await migrateDatabase(config.DATABASE_URL);

  const registry = createJobRegistry({ testing: config.ENABLE_TEST_JOB_TYPES });
  const metrics = createWorkerMetrics(new Registry());
  const database = createDatabase(config.DATABASE_URL, {
    max: config.DATABASE_POOL_SIZE,
    applicationName: 'conveyor-worker',
  });
  const redis = createRedis(config.REDIS_URL, 'worker', 'conveyor-worker');
  redis.on('error', (error) => logger.warn({ err: error }, 'redis connection error'));
  const guard = createAddressGuard(config.HTTP_ALLOWLIST);
  const handlers = createHandlers({ guard });
  const worker = createConveyorWorker({
    connection: redis,
    database,
    logger,
    registry,
    handlers: config.ENABLE_TEST_JOB_TYPES ? { ...handlers, ...testingHandlers } : handlers,
    metrics,
    prefix: config.QUEUE_PREFIX,
    queues: config.WORKER_QUEUES,
    concurrency: config.WORKER_CONCURRENCY,
    batchSize: config.RESULT_BATCH_SIZE,
    lockDurationMs: config.WORKER_LOCK_DURATION_MS,
    stalledIntervalMs: config.WORKER_STALLED_INTERVAL_MS,
    guard,
    callbacks: {
      maxAttempts: config.CALLBACK_MAX_ATTEMPTS,
      backoffMs: config.CALLBACK_BACKOFF_MS,
      timeoutMs: config.CALLBACK_TIMEOUT_MS,
    },
    scheduleReconcileIntervalMs: config.SCHEDULE_RECONCILE_INTERVAL_MS,
  });
  // The API accepts the types workers registered: serve health (and so look live to a test,
  // a launcher or Kubernetes) once they are, or after 10 s without Postgres while the
  // registration goes on trying.
  await Promise.race([worker.registered(), delay(REGISTRATION_WAIT_MS)]);
  const pruner = startHistoryPruner({ database, logger, retentionDays: config.RESULT_RETENTION_DAYS });
  const server =
    config.WORKER_PORT === 0
      ? undefined
      : serve({
          fetch: createWorkerServerApp({ redis, database, registry: metrics.registry }).fetch,
          port: config.WORKER_PORT,
        });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, graceMs: config.SHUTDOWN_GRACE_MS }, 'worker draining');
    // Handing jobs back and writing their rows need Redis and Postgres; if either stops
    // answering, the process still ends here. Jobs it still holds are not lost: their locks
    // lapse and BullMQ's stalled-job check gives them to another worker.
    const boundMs = config.SHUTDOWN_GRACE_MS + SHUTDOWN_MARGIN_MS;
    setTimeout(() => {
      logger.error(
        { signal, graceMs: config.SHUTDOWN_GRACE_MS, waitedMs: boundMs },
        'shutdown gave up waiting for Redis or Postgres; exiting with the jobs still held, which BullMQ recovers as stalled',
      );
      process.exit(1);
    }, boundMs);
    // Reverse order of creation: health server, workers (drain), result writes, Redis, Postgres.
    server?.close();
    pruner.close();
    await worker.close(config.SHUTDOWN_GRACE_MS);
    await redis.quit().catch(() => redis.disconnect());
    await database.close();
    logger.info('worker stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  const message =
    error instanceof ConveyorError ? error.message : error instanceof Error ? error.stack : String(error);
  console.error(`conveyor-worker: ${message}`);
  process.exit(1);
});
