import { once } from 'node:events';
import type { Server } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { type EnvSource, loadConfig, redisTarget, type WorkerConfig, workerEnv } from '@conveyor/core/config';
import { createDatabase, migrateDatabase } from '@conveyor/core/db';
import { ConveyorError } from '@conveyor/core/errors';
import { createJobRegistry, type JobDefinitions } from '@conveyor/core/jobs';
import { createLogger, type Logger } from '@conveyor/core/log';
import { createAddressGuard } from '@conveyor/core/net';
import { createRedis } from '@conveyor/core/redis';
import { serve } from '@hono/node-server';
import { Registry } from 'prom-client';
import { createConveyorWorker } from './conveyor-worker.js';
import { startHistoryPruner } from './history-pruner.js';
import { createWorkerMetrics } from './metrics.js';
import { createWorkerServerApp } from './worker-server.js';

/**
 * How long a shutdown may run past its grace period (handing running jobs back, the last
 * result writes, closing connections) before the process exits anyway.
 */
const SHUTDOWN_MARGIN_MS = 3_000;
/** Longest wait at start for the job types to be registered before serving health. */
const REGISTRATION_WAIT_MS = 10_000;

export interface RunWorkerOptions {
  /**
   * The job types this worker runs (each definition's `run` is its handler), or a function
   * of the loaded settings that returns them (e.g. to pass HTTP_ALLOWLIST to `builtinJobs`).
   */
  jobs: JobDefinitions | ((config: WorkerConfig) => JobDefinitions);
  /**
   * Settings that win over the environment's; every other one is read from `env` (the
   * variables of the README's Configuration: REDIS_URL or REDIS_CLUSTER_NODES, DATABASE_URL, …).
   */
  config?: Partial<WorkerConfig>;
  /** @defaultValue process.env */
  env?: EnvSource;
  /** @defaultValue a pino logger named conveyor-worker at LOG_LEVEL */
  logger?: Logger;
  /**
   * Drain and exit the process on SIGTERM and SIGINT (exit code 0, or 1 when the drain
   * outlasts SHUTDOWN_GRACE_MS by 3 s). Turn off to call `close()` yourself. @defaultValue true
   */
  handleSignals?: boolean;
}

export interface WorkerHandle {
  /** The queues this worker serves. */
  readonly queues: readonly string[];
  /** The port /metrics and /health/* answer on; undefined with WORKER_PORT=0. */
  readonly port: number | undefined;
  /**
   * Stops taking jobs, lets running ones finish for up to SHUTDOWN_GRACE_MS, hands the rest
   * back to their queues (no attempt used), writes the last results and closes connections.
   */
  close(): Promise<void>;
}

/**
 * Starts a Conveyor worker in this process for `jobs`: it registers their types with
 * Conveyor (the API then accepts them), runs their jobs with retries, timeouts and
 * cancellation, records every result in Postgres, and serves /metrics and /health on
 * WORKER_PORT. The stock `conveyor-worker` is this with the built-in types.
 *
 * @example
 * import { runWorker } from '@conveyor/worker';
 * import { resize } from './jobs/resize.js';
 * await runWorker({ jobs: [resize] });
 */
export async function runWorker(options: RunWorkerOptions): Promise<WorkerHandle> {
  const config: WorkerConfig = { ...loadConfig(workerEnv, options.env ?? process.env), ...options.config };
  const registry = createJobRegistry(
    typeof options.jobs === 'function' ? options.jobs(config) : options.jobs,
  );
  const logger = options.logger ?? createLogger({ name: 'conveyor-worker', level: config.LOG_LEVEL });
  if (config.MIGRATE_ON_START) await migrateDatabase(config.DATABASE_URL);

  const metrics = createWorkerMetrics(new Registry());
  const database = createDatabase(config.DATABASE_URL, {
    max: config.DATABASE_POOL_SIZE,
    applicationName: 'conveyor-worker',
  });
  const redis = createRedis(redisTarget(config), 'worker', 'conveyor-worker');
  redis.on('error', (error) => logger.warn({ err: error }, 'redis connection error'));
  const guard = createAddressGuard(config.HTTP_ALLOWLIST);
  const closeConnections = async () => {
    await redis.quit().catch(() => redis.disconnect());
    await database.close();
  };
  let worker: ReturnType<typeof createConveyorWorker>;
  try {
    worker = createConveyorWorker({
      connection: redis,
      database,
      logger,
      registry,
      metrics,
      prefix: config.QUEUE_PREFIX,
      queues: config.WORKER_QUEUES,
      partitions: config.QUEUE_PARTITIONS,
      concurrency: config.WORKER_CONCURRENCY,
      batchSize: config.RESULT_BATCH_SIZE,
      commitsInFlight: config.RESULT_COMMITS_IN_FLIGHT,
      lockDurationMs: config.WORKER_LOCK_DURATION_MS,
      stalledIntervalMs: config.WORKER_STALLED_INTERVAL_MS,
      guard,
      deliveries: {
        maxAttempts: config.CALLBACK_MAX_ATTEMPTS,
        backoffMs: config.CALLBACK_BACKOFF_MS,
        timeoutMs: config.CALLBACK_TIMEOUT_MS,
      },
      scheduleReconcileIntervalMs: config.SCHEDULE_RECONCILE_INTERVAL_MS,
      eventRetention: { count: config.EVENT_RETENTION_COUNT, maxAgeMs: config.EVENT_RETENTION_MS },
    });
  } catch (error) {
    await closeConnections();
    throw error;
  }
  // The API accepts the types workers registered: serve health (and so look live to a test,
  // a launcher or Kubernetes) once they are, or after 10 s without Postgres while the
  // registration goes on trying.
  const waited = new AbortController();
  await Promise.race([
    worker.registered(),
    delay(REGISTRATION_WAIT_MS, undefined, { signal: waited.signal }).catch(() => {}),
  ]);
  waited.abort();
  const pruner = startHistoryPruner({ database, logger, retentionDays: config.RESULT_RETENTION_DAYS });
  let server: Server | undefined;
  if (config.WORKER_PORT !== 0) {
    try {
      server = await listen(
        createWorkerServerApp({
          redis,
          database,
          registry: metrics.registry,
          queues: { prefix: config.QUEUE_PREFIX, queues: worker.bullQueues },
        }).fetch,
        config.WORKER_PORT,
      );
    } catch (error) {
      pruner.close();
      await worker.close(0);
      await closeConnections();
      throw error;
    }
  }

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      logger.info({ graceMs: config.SHUTDOWN_GRACE_MS }, 'worker draining');
      // Reverse order of creation: health server, workers (drain), result writes, Redis, Postgres.
      server?.close();
      pruner.close();
      await worker.close(config.SHUTDOWN_GRACE_MS);
      await closeConnections();
      logger.info('worker stopped');
    })();
    return closing;
  };
  if (options.handleSignals ?? true) {
    const onSignal = (signal: NodeJS.Signals) => {
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
      }, boundMs).unref();
      logger.info({ signal }, 'signal received');
      void close().then(() => process.exit(0));
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
  const address = server?.address();
  return {
    queues: worker.queues,
    port: typeof address === 'object' && address ? address.port : undefined,
    close,
  };
}

/**
 * Ends the process after a failed start with one line naming what was wrong (a bad variable,
 * a port in use, a bad job definition) rather than a stack trace; other errors keep theirs.
 *
 * @example
 * runWorker({ jobs }).catch(exitWithStartError);
 */
export function exitWithStartError(error: unknown): never {
  const message =
    error instanceof ConveyorError ? error.message : error instanceof Error ? error.stack : String(error);
  console.error(`conveyor-worker: ${message}`);
  process.exit(1);
}

/** Serves `fetch` on `port`; a port in use is an error naming WORKER_PORT, not a stack trace. */
async function listen(fetch: Parameters<typeof serve>[0]['fetch'], port: number): Promise<Server> {
  const server = serve({ fetch, port }) as Server;
  try {
    await Promise.race([
      once(server, 'listening'),
      once(server, 'error').then(([error]) => Promise.reject(error)),
    ]);
  } catch (error) {
    server.close();
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'EADDRINUSE' ? 'is in use by another process' : `cannot be listened on (${String(error)})`;
    throw new ConveyorError(
      'CONFIG_INVALID',
      `WORKER_PORT ${port} ${why}: choose another port, or WORKER_PORT=0 to serve no /metrics and /health`,
    );
  }
  return server;
}
