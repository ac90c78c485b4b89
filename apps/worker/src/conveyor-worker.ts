import { setMaxListeners } from 'node:events';
import {
  applyQueueLimits,
  createQueueLimitRecord,
  type Database,
  declaredQueueLimits,
  limitsBelowPartitions,
} from '@conveyor/core/db';
import { cancelChannel, createEventPublisher, type EventRetention } from '@conveyor/core/events';
import {
  CALLBACKS_QUEUE,
  createProducerQueue,
  internalQueues,
  type JobEnvelope,
  type JobRegistry,
  partitionFor,
  partitionNames,
  type QueuePartitions,
  SCHEDULES_QUEUE,
  toRegistration,
} from '@conveyor/core/jobs';
import type { Logger } from '@conveyor/core/log';
import { type AddressGuard, createAddressGuard } from '@conveyor/core/net';
import { duplicateRedis, queuePrefix, type RedisClient } from '@conveyor/core/redis';
import { createSchedulerSync, type TickData } from '@conveyor/core/schedules';
import { createWebhookDispatcher, type DeliveryJobData } from '@conveyor/core/webhooks';
import { type Processor, type Queue, Worker } from 'bullmq';
import { createChildReader } from './flow-gate.js';
import type { UnservedPolicy } from './hand-back.js';
import type { Handler, HandlerContext } from './handler.js';
import type { WorkerMetrics } from './metrics.js';
import { createProcessor } from './processor.js';
import { createResultWriter } from './result-writer.js';
import { createScheduleRunner } from './schedules/schedule-runner.js';
import { startTypeRegistrar } from './type-registrar.js';
import { createDeliverySender } from './webhooks/delivery-sender.js';

/** How webhook deliveries (to a tenant's webhooks and to a job's callbackUrl) are made. */
export interface DeliveryOptions {
  /** POSTs per delivery before it is given up. @defaultValue 8 */
  maxAttempts?: number;
  /** Wait before the first retry, doubled for each next one. @defaultValue 1000 */
  backoffMs?: number;
  /** How long one POST may take. @defaultValue 10000 */
  timeoutMs?: number;
  /** How long a tenant's webhook list is cached: a change applies within this. @defaultValue 5000 */
  cacheTtlMs?: number;
}

export interface ConveyorWorkerDeps {
  /** A `worker` connection (maxRetriesPerRequest: null); BullMQ duplicates it for blocking reads. */
  connection: RedisClient;
  database: Database;
  logger: Logger;
  registry: JobRegistry;
  /** Handlers by type name, for types defined without `run` (the built-ins); they win over `run`. @defaultValue none */
  handlers?: Readonly<Record<string, Handler<never>>>;
  metrics?: WorkerMetrics;
  prefix: string;
  /** Queues to serve, the internal `schedules` and `callbacks` among them. @defaultValue all */
  queues?: readonly string[];
  /**
   * QUEUE_PARTITIONS: a partitioned queue is served by one BullMQ Worker per partition, which
   * share the queue's `concurrency`. Must match the API's. @defaultValue none
   */
  partitions?: QueuePartitions;
  /** Jobs run at once per queue. @defaultValue 16 */
  concurrency?: number;
  /** Most rows per result INSERT. @defaultValue 500 */
  batchSize?: number;
  /** Result INSERTs committing at once (RESULT_COMMITS_IN_FLIGHT). @defaultValue 1 */
  commitsInFlight?: number;
  /** BullMQ lock duration: a dead worker's jobs are picked up again after it. @defaultValue 30 s */
  lockDurationMs?: number;
  /** How often stalled jobs are looked for. @defaultValue 30 s */
  stalledIntervalMs?: number;
  /** Which private targets webhooks may reach (the guard of http.request). @defaultValue none */
  guard?: AddressGuard;
  deliveries?: DeliveryOptions;
  /**
   * How often a worker serving `schedules` reconciles BullMQ's job schedulers with the
   * `schedules` table (it also does at start). @defaultValue 60 s
   */
  scheduleReconcileIntervalMs?: number;
  /** How often the worker tells the registry it still serves its job types. @defaultValue 30 s */
  registryHeartbeatMs?: number;
  /** Hand-backs of a job whose type this worker does not serve. @defaultValue 10, from 1 s doubling to 30 s */
  unserved?: UnservedPolicy;
  /** How many of each tenant's status events its log keeps, and for how long (EVENT_RETENTION_*). @defaultValue 10,000, 10 min */
  eventRetention?: EventRetention;
}

export interface ConveyorWorker {
  readonly queues: readonly string[];
  /** The BullMQ queues it consumes: every partition of each of `queues`. */
  readonly bullQueues: readonly string[];
  /**
   * Resolves once the worker listens for cancellations, has registered the job types it
   * serves and has reconciled schedules once.
   */
  ready(): Promise<void>;
  /** Resolves once the job types it serves are registered (retried until Postgres answers). */
  registered(): Promise<void>;
  /**
   * Stops taking jobs, lets running ones finish for up to `graceMs`, then hands the rest
   * back to their queues (no attempt used) and waits for pending result writes.
   */
  close(graceMs: number): Promise<void>;
}

/**
 * Runs one BullMQ Worker per served queue. Every registered type must have a handler: its
 * definition's `run`, or one in `handlers`.
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
    prefix,
    partitions = new Map(),
    concurrency = 16,
    batchSize = 500,
  } = deps;
  const known = [...registry.queues(), ...internalQueues];
  const queues = deps.queues && deps.queues.length > 0 ? deps.queues : known;
  const unknownQueues = queues.filter((q) => !known.includes(q));
  if (unknownQueues.length > 0) {
    throw new Error(
      `WORKER_QUEUES names unknown queues: ${unknownQueues.join(', ')} (known: ${known.join(', ')})`,
    );
  }
  // A definition's own `run` is its handler (a team's types, built with @conveyor/sdk); a
  // handler given by name (the built-ins, tests) wins.
  const handlers: Readonly<Record<string, Handler<never>>> = {
    ...Object.fromEntries(
      registry.definitions().flatMap((d) => {
        const { run } = d;
        return run ? [[d.name, (input: never, ctx: HandlerContext) => run.call(d, input, ctx)]] : [];
      }),
    ),
    ...deps.handlers,
  };
  const missing = registry.names().filter((name) => !(name in handlers));
  if (missing.length > 0) throw new Error(`no handler for job types: ${missing.join(', ')}`);
  for (const name of queues) {
    const declared = registry.declaredLimits(name);
    const count = partitionNames(name, partitions).length;
    const field = declared && limitsBelowPartitions(declaredQueueLimits(declared), count);
    if (field) {
      throw new Error(
        `queue ${name}: its job types declare queueLimits ${field} below its ${count} partitions (QUEUE_PARTITIONS); each needs at least 1`,
      );
    }
  }

  const shutdown = new AbortController();
  // Every running attempt listens on it (and detaches when it ends): allow one listener per
  // job slot, so Node's leak warning still fires for a real leak but not for a busy worker.
  const bullQueues = queues.flatMap((name) => partitionNames(name, partitions));
  setMaxListeners(concurrency * queues.length + bullQueues.length + 10, shutdown.signal);
  const writer = createResultWriter({
    db: database.db,
    maxBatchSize: batchSize,
    maxInFlight: deps.commitsInFlight,
    metrics: deps.metrics,
  });
  // Producers: deliveries are enqueued by whichever worker ends a job, scheduled jobs by
  // whichever serves `schedules`. They share the worker's connection.
  const producers = new Map<string, Queue>();
  const producer = <T>(name: string): Queue<T> => {
    let queue = producers.get(name);
    if (!queue) {
      queue = createProducerQueue(name, { connection, prefix });
      producers.set(name, queue);
    }
    return queue as Queue<T>;
  };
  const { deliveries = {} } = deps;
  const dispatcher = createWebhookDispatcher({
    database,
    queue: producer<DeliveryJobData>(CALLBACKS_QUEUE),
    ...deliveries,
  });
  const sync = createSchedulerSync({ database, queue: producer<TickData>(SCHEDULES_QUEUE) });
  const processor = createProcessor({
    registry,
    handlers,
    writer,
    publisher: createEventPublisher(connection, prefix, deps.eventRetention),
    logger,
    shutdown: shutdown.signal,
    metrics: deps.metrics,
    redis: connection,
    prefix,
    webhooks: dispatcher,
    unserved: deps.unserved,
    readChildren: createChildReader(database),
  });
  const processors: Record<string, Processor> = {
    [SCHEDULES_QUEUE]: createScheduleRunner({
      database,
      registry,
      queueFor: (name, queueJobId) => producer<JobEnvelope>(partitionFor(name, partitions, queueJobId)),
      sync,
      redis: connection,
      prefix,
      logger,
      metrics: deps.metrics,
    }),
    [CALLBACKS_QUEUE]: createDeliverySender({
      database,
      guard: deps.guard ?? createAddressGuard([]),
      logger,
      timeoutMs: deliveries.timeoutMs,
      metrics: deps.metrics,
    }),
  };
  const workers = queues.flatMap((name) => {
    const names = partitionNames(name, partitions);
    deps.metrics?.concurrency.set({ queue: name }, Math.max(concurrency, names.length));
    return names.map((bullName, index) => {
      const worker = new Worker(bullName, processors[name] ?? processor, {
        connection,
        prefix: queuePrefix(prefix, bullName, connection),
        concurrency: concurrencyShare(concurrency, names.length, index),
        lockDuration: deps.lockDurationMs ?? 30_000,
        stalledInterval: deps.stalledIntervalMs ?? 30_000,
        // Conveyor fails a job that keeps crashing its worker itself (with its row): see processor.
        maxStalledCount: Number.MAX_SAFE_INTEGER,
      });
      worker.on('error', (error) => logger.error({ err: error, queue: bullName }, 'worker error'));
      return worker;
    });
  });
  // Cancels are broadcast: only the process running a job can abort its handler.
  const control = duplicateRedis(connection, 'conveyor-worker-control');
  control.on('error', (error) => logger.warn({ err: error }, 'control channel error'));
  control.on('message', (_channel: string, jobId: string) => {
    for (const worker of workers) worker.cancelJob(jobId, 'cancelled through the API');
  });
  const subscribed = control.subscribe(cancelChannel(prefix));

  // Postgres is the source of truth for schedules: heal BullMQ from it at start (a lost
  // Redis write, a schedule changed while no worker ran) and then periodically.
  let reconcileTimer: NodeJS.Timeout | undefined;
  const reconcile = async () => {
    try {
      const counts = await sync.reconcileAll();
      if (counts && counts.failed > 0) logger.warn(counts, 'some job schedulers could not be reconciled');
      else if (counts && (counts.upserted > 0 || counts.removed > 0)) {
        logger.info(counts, 'job schedulers reconciled with the schedules table');
      }
    } catch (error) {
      logger.warn({ err: error }, 'reconciling job schedulers failed');
    }
  };
  let closed = false;
  const reconciled = queues.includes(SCHEDULES_QUEUE)
    ? reconcile().finally(() => {
        if (closed) return;
        reconcileTimer = setInterval(() => void reconcile(), deps.scheduleReconcileIntervalMs ?? 60_000);
        reconcileTimer.unref();
      })
    : Promise.resolve();
  // The API validates submits against what workers registered: each worker registers the
  // types of the queues it serves, and keeps saying so. Then it applies its queues' limits
  // from the record: an operator's, else what the registered types declare (the same answer
  // on every worker, whichever version each runs).
  // Applied when they change (and at start): the API's reconcile heals Redis after a loss,
  // and a worker re-writing unchanged limits could undo an operator's change it raced with.
  const limitRecord = createQueueLimitRecord(database.db);
  const limitedQueues = queues.filter((q) => registry.queues().includes(q));
  const appliedLimits = new Map<string, string>();
  const applyLimits = async () => {
    const declarations = await limitRecord.registeredDeclarations();
    for (const name of limitedQueues) {
      const now = await limitRecord.declare(name, declarations.get(name));
      const seen = JSON.stringify(now);
      if (appliedLimits.get(name) === seen) continue;
      const bull = partitionNames(name, partitions);
      if (limitsBelowPartitions(now, bull.length)) {
        logger.warn(
          { queue: name, limits: now, partitions: bull.length },
          'queue limits smaller than its partitions; not applied',
        );
      } else await applyQueueLimits(bull.map(producer), now);
      appliedLimits.set(name, seen);
    }
  };
  const registrar = startTypeRegistrar({
    database,
    registrations: registry
      .definitions()
      .filter((d) => queues.includes(d.queue))
      .map(toRegistration),
    logger,
    afterRegister: applyLimits,
    ...(deps.registryHeartbeatMs === undefined ? {} : { heartbeatMs: deps.registryHeartbeatMs }),
  });
  logger.info(
    { queues, concurrency, ...(bullQueues.length > queues.length ? { bullQueues } : {}) },
    'worker started',
  );

  return {
    queues,
    bullQueues,
    ready: () => Promise.all([subscribed, reconciled, registrar.registered]).then(() => undefined),
    registered: () => registrar.registered,
    async close(graceMs) {
      // Not waiting for a reconcile in progress: during a Redis outage it could take long.
      closed = true;
      registrar.close();
      clearInterval(reconcileTimer);
      const timer = setTimeout(() => shutdown.abort(new Error('shutdown grace period over')), graceMs);
      try {
        await Promise.all(workers.map((w) => w.close()));
      } finally {
        clearTimeout(timer);
      }
      await writer.drain();
      await Promise.all([...producers.values()].map((q) => q.close()));
      control.disconnect();
    },
  };
}

/**
 * The concurrency of partition `index` of `count`: `total` split as evenly as it goes (the
 * first ones take the remainder), and at least 1 each, so every partition is served.
 */
export function concurrencyShare(total: number, count: number, index: number): number {
  return Math.max(1, Math.floor(total / count) + (index < total % count ? 1 : 0));
}
