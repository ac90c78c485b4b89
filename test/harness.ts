import { createDatabase, type Database } from '@conveyor/core/db';
import { createJobRegistry, type JobView } from '@conveyor/core/jobs';
import { createLogger } from '@conveyor/core/log';
import { createRedis, redisReady } from '@conveyor/core/redis';
import type { Hono } from 'hono';
import type { Redis } from 'ioredis';
import { type ApiEnv, createApp, createQueueSet, type QueueSet } from '../apps/api/src/index.js';
import {
  type ConveyorWorker,
  createConveyorWorker,
  createAddressGuard,
  createHandlers,
  testingHandlers,
} from '../apps/worker/src/index.js';

export interface Pipeline {
  app: Hono<ApiEnv>;
  database: Database;
  queues: QueueSet;
  producer: Redis;
  worker: ConveyorWorker | undefined;
  startWorker(options?: { concurrency?: number }): ConveyorWorker;
  close(): Promise<void>;
}

/** The API app and (on demand) a worker, in this process, on the test file's Redis prefix and database. */
export async function createPipeline(
  services: { redisUrl: string; databaseUrl: string; prefix: string },
  { bodyLimitBytes = 64 * 1024 }: { bodyLimitBytes?: number } = {},
): Promise<Pipeline> {
  const logger = createLogger({ name: 'test', level: 'silent' });
  const registry = createJobRegistry({ testing: true });
  const database = createDatabase(services.databaseUrl, { max: 5 });
  const producer = createRedis(services.redisUrl, 'producer');
  await redisReady(producer);
  const queues = createQueueSet({ connection: producer, prefix: services.prefix, names: registry.queues() });
  const app = createApp({ logger, registry, queues, redis: producer, database, bodyLimitBytes });
  const workerRedis: Redis[] = [];
  const pipeline: Pipeline = {
    app,
    database,
    queues,
    producer,
    worker: undefined,
    startWorker({ concurrency = 8 } = {}) {
      const connection = createRedis(services.redisUrl, 'worker');
      workerRedis.push(connection);
      pipeline.worker = createConveyorWorker({
        connection,
        database,
        logger,
        registry,
        handlers: { ...createHandlers({ guard: createAddressGuard(['127.0.0.1']) }), ...testingHandlers },
        prefix: services.prefix,
        concurrency,
      });
      return pipeline.worker;
    },
    async close() {
      await pipeline.worker?.close(1_000);
      await queues.close();
      for (const r of [producer, ...workerRedis]) r.disconnect();
      await database.close();
    },
  };
  return pipeline;
}

/** POSTs JSON to the in-process app. */
export function postJson(
  app: Hono<ApiEnv>,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  return app.request(path, {
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
