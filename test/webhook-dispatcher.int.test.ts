import { randomUUID } from 'node:crypto';
import { createDatabase, type Database, webhooks } from '@conveyor/core/db';
import type { StatusEvent } from '@conveyor/core/events';
import { CALLBACKS_QUEUE } from '@conveyor/core/jobs';
import { createWebhookDispatcher, type DeliveryJobData } from '@conveyor/core/webhooks';
import { useTestServices } from '@conveyor/dev/testing';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const services = useTestServices();
let database: Database;
let redis: Redis;
let queue: Queue<DeliveryJobData>;

beforeAll(() => {
  database = createDatabase(services.databaseUrl, { max: 2 });
  redis = new Redis(services.redisUrl, { maxRetriesPerRequest: null });
  queue = new Queue<DeliveryJobData>(CALLBACKS_QUEUE, { connection: redis, prefix: services.prefix });
});
afterAll(async () => {
  await queue.obliterate({ force: true });
  await queue.close();
  redis.disconnect();
  await database.close();
});

const event = (tenant: string): StatusEvent => ({
  jobId: randomUUID(),
  tenant,
  type: 'echo',
  queue: 'default',
  status: 'completed',
  attempt: 1,
  ts: new Date().toISOString(),
});

describe('webhook dispatcher', () => {
  it("reads a tenant's webhooks once per cache period, not once per job", async () => {
    const dispatcher = createWebhookDispatcher({ database, queue, cacheTtlMs: 60_000 });
    expect(await dispatcher.dispatch(event('t1'), { generation: 0 })).toBe(0);
    // A webhook added now is not seen until the cached list expires: the list was not re-read.
    await database.db
      .insert(webhooks)
      .values({ id: randomUUID(), tenant: 't1', url: 'http://127.0.0.1:9/hook', secret: 's' });
    for (let i = 0; i < 20; i++) expect(await dispatcher.dispatch(event('t1'), { generation: 0 })).toBe(0);
    // A fresh dispatcher (as after the period) sees it, and enqueues one delivery.
    const fresh = createWebhookDispatcher({ database, queue, cacheTtlMs: 60_000 });
    expect(await fresh.dispatch(event('t1'), { generation: 0 })).toBe(1);
    expect(await queue.count()).toBe(1);
  });
});
