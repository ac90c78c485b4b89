import { randomUUID } from 'node:crypto';
import { jobs } from '@conveyor/core/db';
import type { BatchItemResult } from '@conveyor/core/jobs';
import { queueJobId } from '@conveyor/core/jobs';
import { type RedisServerHandle, startRedisServer } from '@conveyor/dev';
import { useTestServices } from '@conveyor/dev/testing';
import { eq, inArray } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipeline, type Pipeline, postJson, removeFinishedJob, waitForStatus } from './harness.js';

const services = useTestServices();
let p: Pipeline;
const get = (path: string) => p.request(path);

beforeAll(async () => {
  p = await createPipeline(services, { bodyLimitBytes: 16 * 1024 * 1024 });
  p.startWorker();
});
afterAll(() => p.close());

describe('batch submit', () => {
  it('enqueues every job of a valid batch and reports each in order', async () => {
    const response = await postJson(p, '/v1/jobs/batch', {
      jobs: [
        { type: 'echo', data: 1 },
        { type: 'echo', data: 2 },
        { type: 'http.request', data: { url: 'http://127.0.0.1:9/none' }, delayMs: 60_000 },
      ],
    });
    expect(response.status).toBe(202);
    const { items } = (await response.json()) as { items: BatchItemResult[] };
    expect(items.map((i) => [i.index, i.outcome])).toEqual([
      [0, 'enqueued'],
      [1, 'enqueued'],
      [2, 'enqueued'],
    ]);
    const first = items[0];
    if (!first) throw new Error('no items');
    expect(await waitForStatus(get, first.id, ['completed'])).toMatchObject({ result: 1 });
  });

  it('enqueues nothing when one item is invalid, naming the index and reason of each bad item', async () => {
    const before = await p.queues.get('default').count();
    const response = await postJson(p, '/v1/jobs/batch', {
      jobs: [{ type: 'noop' }, { type: 'sleep', data: { ms: 'x' } }, { type: 'noop' }, { type: 'nope' }],
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { invalidItems: { index: number }[]; errors: { path: string }[] };
    expect(body.invalidItems.map((i) => i.index)).toEqual([1, 3]);
    expect(body.errors.map((e) => e.path)).toEqual(['jobs.1.data.ms', 'jobs.3.type']);
    expect(await p.queues.get('default').count()).toBe(before);
  });

  it('rejects an empty batch, more than 1,000 jobs, and a repeated id inside one batch', async () => {
    expect((await postJson(p, '/v1/jobs/batch', { jobs: [] })).status).toBe(400);
    const big = Array.from({ length: 1_001 }, () => ({ type: 'noop' }));
    expect((await postJson(p, '/v1/jobs/batch', { jobs: big })).status).toBe(400);
    const id = randomUUID();
    const dup = await postJson(p, '/v1/jobs/batch', {
      jobs: [
        { type: 'noop', id },
        { type: 'noop', id },
      ],
    });
    expect(await dup.json()).toMatchObject({ status: 400, invalidItems: [{ index: 1 }] });
  });

  it('reports known ids as duplicates instead of enqueueing them again', async () => {
    const id = randomUUID();
    await postJson(p, '/v1/jobs', { type: 'echo', data: 'once', id });
    await waitForStatus(get, id, ['completed']);
    const response = await postJson(p, '/v1/jobs/batch', { jobs: [{ type: 'echo', data: 'once', id }] });
    expect(await response.json()).toMatchObject({
      items: [{ id, outcome: 'duplicate', status: 'completed' }],
    });
  });
});

describe('batch submit when Redis fails mid-batch', () => {
  let redis: RedisServerHandle;
  let broken: Pipeline;
  let admin: Redis;

  beforeAll(async () => {
    redis = await startRedisServer();
    admin = new Redis(redis.url);
    broken = await createPipeline(
      { ...services, redisUrl: redis.url, prefix: `${services.prefix}-oom` },
      { bodyLimitBytes: 16 * 1024 * 1024 },
    );
  });
  afterAll(async () => {
    await broken.close();
    admin.disconnect();
    await redis.stop();
  });

  it('says exactly which jobs were enqueued, and a resend of the same ids duplicates none', async () => {
    // Leave room for about half the batch, then Redis refuses writes (OOM) part-way.
    const used = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))?.[1]);
    await admin.config('SET', 'maxmemory', String(used + 2 * 1024 * 1024));
    const batch = {
      jobs: Array.from({ length: 200 }, () => ({
        type: 'noop',
        id: randomUUID(),
        data: { pad: 'x'.repeat(20_000) },
      })),
    };
    const first = await postJson(broken, '/v1/jobs/batch', batch);
    expect(first.status).toBe(503);
    const { items } = (await first.json()) as { items: BatchItemResult[] };
    const enqueued = items.filter((i) => i.outcome === 'enqueued');
    const failed = items.filter((i) => i.outcome === 'failed');
    expect(enqueued.length).toBeGreaterThan(0);
    expect(failed.length).toBeGreaterThan(0);
    expect(enqueued.length + failed.length).toBe(200);
    const queue = broken.queues.get('default');
    for (const item of enqueued) expect(await queue.getJob(queueJobId('default', item.id))).toBeDefined();
    for (const item of failed) expect(await queue.getJob(queueJobId('default', item.id))).toBeUndefined();

    await admin.config('SET', 'maxmemory', '0');
    const second = await postJson(broken, '/v1/jobs/batch', batch);
    expect(second.status).toBe(202);
    const resent = ((await second.json()) as { items: BatchItemResult[] }).items;
    expect(resent.filter((i) => i.outcome === 'duplicate').length).toBe(enqueued.length);
    expect(resent.filter((i) => i.outcome === 'enqueued').length).toBe(failed.length);
    expect(await queue.count()).toBe(200);
  });
});

describe('idempotency', () => {
  it('runs one job for many concurrent submits with one Idempotency-Key', async () => {
    const key = `order-${randomUUID()}`;
    const body = { type: 'echo', data: { order: 42 } };
    const responses = await Promise.all(
      Array.from({ length: 30 }, () => postJson(p, '/v1/jobs', body, { 'Idempotency-Key': key })),
    );
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 202)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(29);
    const ids = new Set(
      await Promise.all(responses.map(async (r) => ((await r.json()) as { id: string }).id)),
    );
    expect(ids.size).toBe(1);
    const [id] = [...ids];
    if (!id) throw new Error('no id');
    await waitForStatus(get, id, ['completed']);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const rows = await p.database.db
      .select()
      .from(jobs)
      .where(inArray(jobs.id, [id]));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ runs: 1, idempotencyKey: key });
  });

  it('answers 409 for the same key with a different body', async () => {
    const key = `k-${randomUUID()}`;
    expect((await postJson(p, '/v1/jobs', { type: 'noop' }, { 'Idempotency-Key': key })).status).toBe(202);
    const other = await postJson(p, '/v1/jobs', { type: 'echo', data: 1 }, { 'Idempotency-Key': key });
    expect(await other.json()).toMatchObject({ status: 409, code: 'CONFLICT' });
  });

  it('returns the original job after it finished and left Redis, without running it again', async () => {
    const key = `gone-${randomUUID()}`;
    const body = { type: 'echo', data: 'gone' };
    const first = await postJson(p, '/v1/jobs', body, { 'Idempotency-Key': key });
    const { id } = (await first.json()) as { id: string };
    await waitForStatus(get, id, ['completed']);
    await removeFinishedJob(p.queues.get('default'), queueJobId('default', id));
    const again = await postJson(p, '/v1/jobs', body, { 'Idempotency-Key': key });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ id, status: 'completed' });
    expect(await p.queues.get('default').getJob(queueJobId('default', id))).toBeUndefined();
    expect((await p.database.db.query.jobs.findFirst({ where: eq(jobs.id, id) }))?.runs).toBe(1);
  });

  it('rejects a malformed Idempotency-Key and an id that contradicts the key', async () => {
    expect((await postJson(p, '/v1/jobs', { type: 'noop' }, { 'Idempotency-Key': 'has space' })).status).toBe(
      400,
    );
    const both = await postJson(
      p,
      '/v1/jobs',
      { type: 'noop', id: randomUUID() },
      { 'Idempotency-Key': 'k1' },
    );
    expect(await both.json()).toMatchObject({ status: 400, errors: [{ path: 'id' }] });
  });
});
