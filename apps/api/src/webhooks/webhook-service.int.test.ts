import { randomUUID } from 'node:crypto';
import * as schema from '@conveyor/core/db';
import { createDatabase, type Database, type Db } from '@conveyor/core/db';
import { isConveyorError } from '@conveyor/core/errors';
import { CALLBACKS_QUEUE, createProducerQueue } from '@conveyor/core/jobs';
import { createAddressGuard } from '@conveyor/core/net';
import { createRedis } from '@conveyor/core/redis';
import { createWebhookDispatcher, type DeliveryJobData } from '@conveyor/core/webhooks';
import { useTestServices } from '@conveyor/dev/testing';
import { testingJobs } from '@conveyor/dev/testing-jobs';
import type { Queue } from 'bullmq';
import { drizzle } from 'drizzle-orm/postgres-js';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fixedJobTypeRegistry } from '../job-types/job-type-registry.js';
import { createWebhookService, type WebhookService } from './webhook-service.js';

const services = useTestServices();
let database: Database;
let redis: Redis;
let queue: Queue<DeliveryJobData>;
let webhooks: WebhookService;
/** Every statement the service sent, as drizzle's query logger saw it. */
const statements: string[] = [];

beforeAll(async () => {
  database = createDatabase(services.databaseUrl, { max: 2 });
  const db = drizzle({
    client: database.sql,
    schema,
    casing: 'snake_case',
    logger: { logQuery: (query) => statements.push(query) },
  }) as Db;
  redis = createRedis(services.redisUrl, 'producer');
  queue = createProducerQueue<DeliveryJobData>(CALLBACKS_QUEUE, {
    connection: redis,
    prefix: services.prefix,
  });
  webhooks = createWebhookService({
    database: { ...database, db },
    registry: await fixedJobTypeRegistry(testingJobs),
    guard: createAddressGuard([]),
    dispatcher: createWebhookDispatcher({ database, queue }),
  });
});
afterAll(async () => {
  await queue.close();
  redis.disconnect();
  await database.close();
});
beforeEach(() => {
  statements.length = 0;
});

async function rejection(call: Promise<unknown>): Promise<unknown> {
  return call.then(
    () => undefined,
    (e: unknown) => e,
  );
}

async function notFound(call: Promise<unknown>): Promise<void> {
  const error = await rejection(call);
  expect(isConveyorError(error, 'WEBHOOK_NOT_FOUND'), String(error)).toBe(true);
}

describe('PATCH of a webhook', () => {
  it('is one UPDATE: no read before it, the returned row is the answer', async () => {
    const hook = await webhooks.create('t1', { url: 'https://example.com/a', description: 'before' });
    statements.length = 0;
    const updated = await webhooks.update('t1', hook.id, { description: 'after', enabled: false });
    expect(updated).toMatchObject({ id: hook.id, description: 'after', enabled: false });
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatch(/^update "webhooks"/);
    expect(await webhooks.get('t1', hook.id)).toMatchObject({ description: 'after', enabled: false });
  });

  it("answers 404 for an unknown id and another tenant's webhook, 400 for a non-UUID (without a query)", async () => {
    const hook = await webhooks.create('t1', { url: 'https://example.com/b', description: 'mine' });
    statements.length = 0;
    await notFound(webhooks.update('t1', randomUUID(), { description: 'x' }));
    await notFound(webhooks.update('t2', hook.id, { description: 'x' }));
    expect(statements).toHaveLength(2);
    const malformed = await rejection(webhooks.update('t1', 'not-a-uuid', { description: 'x' }));
    expect(malformed).toMatchObject({
      code: 'VALIDATION_FAILED',
      issues: [{ path: 'id', message: 'must be a UUID' }],
    });
    expect(statements).toHaveLength(2);
    expect(await webhooks.get('t1', hook.id)).toMatchObject({ description: 'mine' });
  });
});
