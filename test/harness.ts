import type { AddressInfo } from 'node:net';
import { createDatabase, type Database, readJobTypes, registerJobTypes } from '@conveyor/core/db';
import type { EventRetention } from '@conveyor/core/events';
import {
  createJobRegistry,
  type JobDefinition,
  type JobView,
  type QueuePartitions,
  toRegistration,
} from '@conveyor/core/jobs';
import { createLogger } from '@conveyor/core/log';
import { createRedis, redisReady } from '@conveyor/core/redis';
import { testingJobs } from '@conveyor/dev/testing-jobs';
import { type ServerType, serve } from '@hono/node-server';
import type { Queue } from 'bullmq';
import type { Hono } from 'hono';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import {
  type ApiEnv,
  type ApiKeyStore,
  createApiKeyStore,
  createApp,
  createEventHub,
  createJobTypeRegistry,
  createQueueSet,
  createWebSocketServer,
  type EventHub,
  type JobTypeRegistry,
  type JwtVerifier,
  type QueueSet,
} from '../apps/api/src/index.js';
import {
  builtinJobs,
  type ConveyorWorker,
  createAddressGuard,
  createConveyorWorker,
  createWorkerMetrics,
  type DeliveryOptions,
  type Handler,
  type UnservedPolicy,
  type WorkerMetrics,
} from '../apps/worker/src/index.js';

/** Anything that answers `request(path, init)` like a Hono app. */
export interface Requester {
  request(path: string, init?: RequestInit): Response | Promise<Response>;
}

export interface Pipeline extends Requester {
  app: Hono<ApiEnv>;
  hub: EventHub;
  /** The API's job type registry (what workers registered). */
  registry: JobTypeRegistry;
  /** An admin and operator key of tenant `default`; `request` sends it. */
  apiKey: string;
  keys: ApiKeyStore;
  database: Database;
  queues: QueueSet;
  producer: Redis;
  /** The worker startWorker() made last. */
  worker: ConveyorWorker | undefined;
  /** Every worker startWorker() made and that is not closed yet. */
  workers: ConveyorWorker[];
  /** The metrics of the worker startWorker() made last. */
  workerMetrics: WorkerMetrics | undefined;
  startWorker(options?: WorkerOptions): ConveyorWorker;
  /** Closes one worker (default: all of them). */
  stopWorkers(workers?: ConveyorWorker[]): Promise<void>;
  close(): Promise<void>;
}

export interface WorkerOptions {
  concurrency?: number;
  /** Handlers that replace the built-in ones (e.g. to count calls). */
  handlers?: Record<string, Handler<never>>;
  deliveries?: DeliveryOptions;
  queues?: string[];
  /** Job types of the worker's own besides the built-in and testing ones (a team's own). */
  jobs?: JobDefinition[];
  /** Serve only `jobs`, without the built-in and testing types. @defaultValue false */
  onlyJobs?: boolean;
  /** Hand-backs of a job whose type the worker does not serve. */
  unserved?: UnservedPolicy;
  /** QUEUE_PARTITIONS of this worker. @defaultValue the pipeline's */
  partitions?: QueuePartitions;
}

/** The API app and (on demand) a worker, in this process, on the test file's Redis prefix and database. */
export async function createPipeline(
  services: { redisUrl: string; databaseUrl: string; prefix: string },
  {
    bodyLimitBytes = 64 * 1024,
    rateLimit = { perSecond: 0, burst: 1 },
    tenantMaxInFlight = 0,
    heartbeatMs = 15_000,
    jwt,
    onQuery,
    authCacheTtlMs,
    streamMaxSubscriptions,
    wsMaxSubscriptions,
    partitions,
    eventRetention,
  }: {
    /** EVENT_RETENTION_COUNT/MS of the API and every worker. @defaultValue 10,000, 10 min */
    eventRetention?: EventRetention;
    /** QUEUE_PARTITIONS of the API, and of every worker unless it is given its own. */
    partitions?: QueuePartitions;
    /** Accept JWT bearer tokens too. */
    jwt?: JwtVerifier;
    /** Sees every query the pipeline's Postgres pool sends (to count them). */
    onQuery?: (query: string) => void;
    heartbeatMs?: number;
    /** AUTH_CACHE_TTL_MS of the key store. @defaultValue 5 s */
    authCacheTtlMs?: number;
    /** STREAM_MAX_SUBSCRIPTIONS of the event hub. @defaultValue 10,000 */
    streamMaxSubscriptions?: number;
    /** WS_MAX_SUBSCRIPTIONS. @defaultValue 100 */
    wsMaxSubscriptions?: number;
    bodyLimitBytes?: number;
    rateLimit?: { perSecond: number; burst: number };
    tenantMaxInFlight?: number;
  } = {},
): Promise<Pipeline> {
  const logger = createLogger({ name: 'test', level: 'silent' });
  // Like the test worker: the stock worker's built-ins (reaching 127.0.0.1) and the testing types.
  const guard = createAddressGuard(['127.0.0.1']);
  const baseJobs = [...builtinJobs({ guard }), ...testingJobs];
  const registry = createJobRegistry(baseJobs);
  const database = createDatabase(services.databaseUrl, { max: 5, ...(onQuery ? { onQuery } : {}) });
  // The API accepts what workers registered: register every type first, as the stock worker
  // does when it starts, so tests can submit before a worker runs.
  await registerJobTypes(database.db, registry.definitions().map(toRegistration));
  const types = createJobTypeRegistry({ read: () => readJobTypes(database.db), refreshMs: 0 });
  await types.refresh();
  const producer = createRedis(services.redisUrl, 'producer');
  await redisReady(producer);
  const queues = createQueueSet({
    connection: producer,
    prefix: services.prefix,
    names: () => types.queues(),
    ...(partitions ? { partitions } : {}),
  });
  const keys = createApiKeyStore({
    database,
    ...(authCacheTtlMs === undefined ? {} : { cacheTtlMs: authCacheTtlMs }),
  });
  // Like BOOTSTRAP_ADMIN_KEY: the deployment's own key, admin of `default` and operator.
  const { key: apiKey } = await keys.create({
    tenant: 'default',
    name: 'test',
    scopes: ['admin', 'operator'],
  });
  const subscriber = createRedis(services.redisUrl, 'subscriber');
  const hub = createEventHub({
    subscriber,
    logger,
    ...(streamMaxSubscriptions ? { maxListeners: streamMaxSubscriptions } : {}),
  });
  const app = createApp({
    hub,
    heartbeatMs,
    ...(wsMaxSubscriptions ? { wsMaxSubscriptions } : {}),
    ...(eventRetention ? { eventRetention } : {}),
    logger,
    registry: types,
    queues,
    redis: producer,
    database,
    bodyLimitBytes,
    auth: { keys, jwt },
    rateLimit,
    tenantMaxInFlight,
    // The workers' guard: webhook deliveries to the tests' receivers on 127.0.0.1.
    guard,
  });
  const workerRedis: Redis[] = [];
  const pipeline: Pipeline = {
    app,
    hub,
    registry: types,
    apiKey,
    keys,
    request: (path, init = {}) => app.request(path, withKey(apiKey, init)),
    database,
    queues,
    producer,
    worker: undefined,
    workers: [],
    workerMetrics: undefined,
    startWorker({
      concurrency = 8,
      handlers = {},
      deliveries,
      queues: served,
      jobs,
      onlyJobs,
      unserved,
      partitions: workerPartitions = partitions,
    } = {}) {
      const connection = createRedis(services.redisUrl, 'worker');
      workerRedis.push(connection);
      pipeline.workerMetrics = createWorkerMetrics(new Registry());
      pipeline.worker = createConveyorWorker({
        metrics: pipeline.workerMetrics,
        connection,
        database,
        logger,
        registry: jobs ? createJobRegistry(onlyJobs ? jobs : [...baseJobs, ...jobs]) : registry,
        handlers,
        prefix: services.prefix,
        concurrency,
        guard,
        // Webhook changes apply at once in tests.
        deliveries: { cacheTtlMs: 0, ...deliveries },
        ...(served ? { queues: served } : {}),
        ...(unserved ? { unserved } : {}),
        ...(workerPartitions ? { partitions: workerPartitions } : {}),
        ...(eventRetention ? { eventRetention } : {}),
      });
      pipeline.workers.push(pipeline.worker);
      return pipeline.worker;
    },
    async stopWorkers(which = [...pipeline.workers]) {
      await Promise.all(which.map((w) => w.close(1_000)));
      pipeline.workers = pipeline.workers.filter((w) => !which.includes(w));
    },
    async close() {
      await hub.close();
      await pipeline.stopWorkers();
      await queues.close();
      for (const r of [producer, ...workerRedis]) r.disconnect();
      await database.close();
    },
  };
  return pipeline;
}

/** `init` with `Authorization: Bearer <key>` added (unless it sets its own). */
export function withKey(key: string, init: RequestInit = {}): RequestInit {
  const headers = new Headers(init.headers);
  if (!headers.has('authorization')) headers.set('authorization', `Bearer ${key}`);
  return { ...init, headers };
}

/** POSTs JSON through `to` (a pipeline sends its admin key). */
export function postJson(to: Requester, path: string, body: unknown, headers: Record<string, string> = {}) {
  return to.request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** Polls GET /v1/jobs/:id until the job has one of `statuses`. */
export async function waitForStatus(
  get: (path: string) => Response | Promise<Response>,
  id: string,
  statuses: readonly string[],
  timeoutMs = 15_000,
): Promise<JobView> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    const response = await get(`/v1/jobs/${id}`);
    last = await response.json();
    if (response.status === 200 && statuses.includes((last as JobView).status)) return last as JobView;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(
    `job ${id} did not reach ${statuses.join('/')} within ${timeoutMs} ms; last: ${JSON.stringify(last)}`,
  );
}

/**
 * Removes a finished job from Redis, as BullMQ's retention does after ~1,000 later jobs.
 * Its row commits before BullMQ acknowledges it, so this waits for that acknowledgement
 * (until then the worker holds the job's lock and BullMQ refuses to remove it).
 */
export async function removeFinishedJob(queue: Queue, bullId: string, timeoutMs = 5_000): Promise<void> {
  const job = await queue.getJob(bullId);
  if (!job) throw new Error(`job ${bullId} is not in Redis`);
  const deadline = Date.now() + timeoutMs;
  let state = await job.getState();
  while (state !== 'completed' && state !== 'failed') {
    if (Date.now() > deadline) throw new Error(`job ${bullId} is still ${state} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
    state = await job.getState();
  }
  await job.remove();
}

/** A served app: its base URL, and how to stop serving it. */
export interface ServedApp {
  url: string;
  server: ServerType;
  close(): Promise<void>;
}

/**
 * Serves `app` over HTTP, WebSocket upgrades included, on a free port of 127.0.0.1 (for curl,
 * a browser, a child process, a socket).
 */
export async function serveOnFreePort(app: {
  fetch: (request: Request) => Response | Promise<Response>;
}): Promise<ServedApp> {
  const server = serve({
    fetch: app.fetch,
    port: 0,
    hostname: '127.0.0.1',
    websocket: { server: createWebSocketServer() },
  });
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
