import { type AddressInfo, createServer, type Socket } from 'node:net';
import { createDatabase, type Database } from '@conveyor/core/db';
import { createLogger } from '@conveyor/core/log';
import { createRedis } from '@conveyor/core/redis';
import { freePort } from '@conveyor/dev';
import { useTestServices } from '@conveyor/dev/testing';
import { testingJobs } from '@conveyor/dev/testing-jobs';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiDeps, createApp } from './app.js';
import { createApiKeyStore, generateApiKey } from './auth/api-keys.js';
import { fixedJobTypeRegistry } from './job-types/job-type-registry.js';
import { createQueueSet } from './queues.js';
import { createEventHub } from './streams/event-hub.js';

const services = useTestServices();

/** The API on these connections, with the testing job types. */
async function appOn(redis: Redis, database: Database, extra: Partial<ApiDeps> = {}) {
  const registry = await fixedJobTypeRegistry(testingJobs);
  const queues = createQueueSet({
    connection: redis,
    prefix: services.prefix,
    names: () => registry.queues(),
  });
  const logger = createLogger({ name: 'test', level: 'silent' });
  return createApp({
    logger,
    registry,
    queues,
    redis,
    database,
    auth: { keys: createApiKeyStore({ database }) },
    hub: createEventHub({ subscriber: redis, logger }),
    ...extra,
  });
}

describe('with Redis and Postgres unreachable', () => {
  let app: ReturnType<typeof createApp>;
  let close: () => Promise<void>;

  beforeAll(async () => {
    const deadPort = await freePort();
    const redis = createRedis(`redis://127.0.0.1:${deadPort}`, 'producer');
    redis.on('error', () => {});
    const database = createDatabase(`postgres://postgres@127.0.0.1:${deadPort}/none`, {
      connectTimeoutSeconds: 1,
    });
    app = await appOn(redis, database);
    close = async () => {
      redis.disconnect();
      await database.close();
    };
  });
  afterAll(() => close());

  it('reports not ready with 503, naming both dependencies, within two seconds', async () => {
    const started = Date.now();
    const response = await app.request('/health/ready');
    expect(response.status).toBe(503);
    const body = (await response.json()) as { checks: { redis: string; postgres: string } };
    expect(body.checks.redis).not.toBe('ok');
    expect(body.checks.postgres).not.toBe('ok');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('answers a submit with 503 UNAVAILABLE and Retry-After instead of hanging', async () => {
    const started = Date.now();
    const response = await app.request('/v1/jobs', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${generateApiKey().key}` },
      body: JSON.stringify({ type: 'test.hang' }),
    });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    expect(await response.json()).toMatchObject({
      code: 'UNAVAILABLE',
      detail: expect.stringContaining('Postgres'),
    });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('stays alive: liveness does not depend on Redis or Postgres', async () => {
    expect((await app.request('/health/live')).status).toBe(200);
  });
});

describe('with a Postgres that accepts connections and never answers', () => {
  let app: ReturnType<typeof createApp>;
  let close: () => Promise<void>;

  beforeAll(async () => {
    // Takes the TCP connection, never says a word: the key lookup of every request hangs.
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    const redis = createRedis(services.redisUrl, 'producer');
    const database = createDatabase(`postgres://postgres@127.0.0.1:${port}/none`, {
      connectTimeoutSeconds: 30,
    });
    app = await appOn(redis, database, { requestTimeoutMs: 300 });
    close = async () => {
      redis.disconnect();
      for (const socket of sockets) socket.destroy();
      silent.close();
      await database.close();
    };
  });
  afterAll(() => close());

  it('answers 503 TIMEOUT with Retry-After once REQUEST_TIMEOUT_MS has passed, not when the dependency gives up', async () => {
    const started = Date.now();
    const response = await app.request('/v1/jobs', {
      headers: { authorization: `Bearer ${generateApiKey().key}` },
    });
    const elapsed = Date.now() - started;
    expect(response.status).toBe(503);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(response.headers.get('retry-after')).toBe('1');
    expect(await response.json()).toMatchObject({
      code: 'TIMEOUT',
      detail: 'the request took longer than 300 ms',
    });
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(5_000);
  });
});
