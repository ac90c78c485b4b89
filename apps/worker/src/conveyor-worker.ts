import type { Database } from '@conveyor/core/db';
import { cancelChannel, createEventPublisher } from '@conveyor/core/events';
import type { JobRegistry } from '@conveyor/core/jobs';
import type { Logger } from '@conveyor/core/log';
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Handler } from './handlers/index.js';
import type { WorkerMetrics } from './metrics.js';
import { createProcessor } from './processor.js';
import { createResultWriter } from './result-writer.js';

export interface ConveyorWorkerDeps {
  /** A `worker` connection (maxRetriesPerRequest: null); BullMQ duplicates it for blocking reads. */
  connection: Redis;
  database: Database;
  logger: Logger;
  registry: JobRegistry;
  handlers: Readonly<Record<string, Handler<never>>>;
  metrics?: WorkerMetrics;
  prefix: string;
  /** Queues to serve. @defaultValue every queue of the registry */
  queues?: readonly string[];
  /** Jobs run at once per queue. @defaultValue 16 */
  concurrency?: number;
  /** Most rows per result INSERT. @defaultValue 500 */
  batchSize?: number;
  /** BullMQ lock duration: a dead worker's jobs are picked up again after it. @defaultValue 30 s */
  lockDurationMs?: number;
  /** How often stalled jobs are looked for. @defaultValue 30 s */
  stalledIntervalMs?: number;
}

export interface ConveyorWorker {
  readonly queues: readonly string[];
  /** Resolves once the worker listens for cancellations. */
  ready(): Promise<void>;
  /**
   * Stops taking jobs, lets running ones finish for up to `graceMs`, then hands the rest
   * back to their queues (no attempt used) and waits for pending result writes.
   */
  close(graceMs: number): Promise<void>;
}

/**
 * Runs one BullMQ Worker per served queue. Every registered type must have a handler.
 *
 * @example
 * const worker = createConveyorWorker({ connection, database, logger, registry, handlers, prefix: 'conveyor' });
 * process.on('SIGTERM', () => worker.close(25_000));
 */
export function createConveyorWorker(deps: ConveyorWorkerDeps): ConveyorWorker {
  const {
    connection,
    database,
    logger,
    registry,
    handlers,
    prefix,
    concurrency = 16,
    batchSize = 500,
  } = deps;
  const queues = deps.queues && deps.queues.length > 0 ? deps.queues : registry.queues();
  const unknownQueues = queues.filter((q) => !registry.queues().includes(q));
  if (unknownQueues.length > 0) {
    throw new Error(
      `WORKER_QUEUES names unknown queues: ${unknownQueues.join(', ')} (known: ${registry.queues().join(', ')})`,
    );
  }
  const missing = registry.names().filter((name) => !(name in handlers));
  if (missing.length > 0) throw new Error(`no handler for job types: ${missing.join(', ')}`);

  const shutdown = new AbortController();
  const writer = createResultWriter({ db: database.db, maxBatchSize: batchSize, metrics: deps.metrics });
  const processor = createProcessor({
    registry,
    handlers,
    writer,
    publisher: createEventPublisher(connection, prefix),
    logger,
    shutdown: shutdown.signal,
    metrics: deps.metrics,
    redis: connection,
    prefix,
  });
  const workers = queues.map((name) => {
    const worker = new Worker(name, processor, {
      connection,
      prefix,
      concurrency,
      lockDuration: deps.lockDurationMs ?? 30_000,
      stalledInterval: deps.stalledIntervalMs ?? 30_000,
      // Conveyor fails a job that keeps crashing its worker itself (with its row): see processor.
      maxStalledCount: Number.MAX_SAFE_INTEGER,
    });
    worker.on('error', (error) => logger.error({ err: error, queue: name }, 'worker error'));
    deps.metrics?.concurrency.set({ queue: name }, concurrency);
    return worker;
  });
  // Cancels are broadcast: only the process running a job can abort its handler.
  const control = connection.duplicate({ connectionName: 'conveyor-worker-control' });
  control.on('error', (error) => logger.warn({ err: error }, 'control channel error'));
  control.on('message', (_channel: string, jobId: string) => {
    for (const worker of workers) worker.cancelJob(jobId, 'cancelled through the API');
  });
  const subscribed = control.subscribe(cancelChannel(prefix));
  logger.info({ queues, concurrency }, 'worker started');

  return {
    queues,
    ready: () => subscribed.then(() => undefined),
    async close(graceMs) {
      const timer = setTimeout(() => shutdown.abort(new Error('shutdown grace period over')), graceMs);
      try {
        await Promise.all(workers.map((w) => w.close()));
      } finally {
        clearTimeout(timer);
      }
      await writer.drain();
      control.disconnect();
    },
  };
}
