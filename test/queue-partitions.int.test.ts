import { queueJobId } from '@conveyor/core/jobs';
import { useTestServices } from '@conveyor/dev/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipeline, type Pipeline, postJson, waitForStatus } from './harness.js';

/**
 * One queue split into four partitions (QUEUE_PARTITIONS=default=4), on one Redis: jobs
 * spread over the four BullMQ queues and every answer shows the one queue they belong to.
 * On a cluster the partitions sit on different masters: test/redis-cluster.int.test.ts.
 */
const services = useTestServices();
const partitions = new Map([['default', 4]]);
const BULL_QUEUES = ['default', 'default.1', 'default.2', 'default.3'];
let p: Pipeline;

interface QueueInfo {
  name: string;
  counts: Record<string, number> | null;
  paused: boolean;
  workers: number | null;
  partitions: number;
}

const queueInfo = async (name: string): Promise<QueueInfo> => {
  const response = await p.request('/v1/queues');
  expect(response.status).toBe(200);
  const found = ((await response.json()) as { items: QueueInfo[] }).items.find((q) => q.name === name);
  if (!found) throw new Error(`no queue ${name} in GET /v1/queues`);
  return found;
};

/** Which BullMQ queue holds tenant default's job `id` (undefined: none). */
const holder = async (id: string): Promise<string | undefined> => {
  const bullId = queueJobId('default', id);
  for (const queue of p.queues.all()) if (await queue.getJob(bullId)) return queue.name;
  return undefined;
};

beforeAll(async () => {
  p = await createPipeline(services, { partitions });
});
afterAll(() => p?.close());

describe('a queue with four partitions', () => {
  it('spreads submits and batches over its partitions, and every job ends as one row of the queue', async () => {
    // Held back (delayed), so where each job sits can be read before any runs.
    const single: string[] = [];
    for (let i = 0; i < 40; i++) {
      const response = await postJson(p, '/v1/jobs', { type: 'echo', data: { i }, delayMs: 600_000 });
      expect(response.status).toBe(202);
      const body = (await response.json()) as { id: string; queue: string };
      expect(body.queue).toBe('default');
      single.push(body.id);
    }
    const batch = await postJson(p, '/v1/jobs/batch', {
      jobs: Array.from({ length: 40 }, (_, i) => ({ type: 'echo', data: { b: i } })),
    });
    expect(batch.status).toBe(202);
    const batchIds = ((await batch.json()) as { items: { id: string }[] }).items.map((item) => item.id);
    const held = await Promise.all(single.map(holder));
    expect(new Set(held)).toEqual(new Set(BULL_QUEUES));

    // A job's view, whichever partition holds it, names the queue.
    const view = (await (await p.request(`/v1/jobs/${single[0]}`)).json()) as {
      queue: string;
      status: string;
    };
    expect(view).toMatchObject({ queue: 'default', status: 'queued' });
    // The list's queue filter takes the queue's name and finds jobs of every partition.
    const listed = await p.request('/v1/jobs?queue=default&status=queued&limit=100');
    const items = ((await listed.json()) as { items: { id: string; queue: string }[] }).items;
    expect(items.map((item) => item.id)).toEqual(expect.arrayContaining([...single, ...batchIds]));
    expect(new Set(items.map((item) => item.queue))).toEqual(new Set(['default']));
    // The operator's listing sums the partitions.
    const info = await queueInfo('default');
    expect(info.partitions).toBe(4);
    expect(info.counts?.delayed).toBeGreaterThanOrEqual(40);
    expect((await queueInfo('http')).partitions).toBe(1);

    p.startWorker({ concurrency: 8 });
    for (const id of batchIds) await waitForStatus(p.request, id, ['completed']);
    const rows = await p.database.sql<{ queue: string; n: number }[]>`
      select queue, count(*)::int as n from jobs where id = any(${batchIds}) group by queue`;
    expect(rows).toEqual([{ queue: 'default', n: 40 }]);
    // Every partition has a BullMQ worker, and the listing shows the fewest any one has.
    await expect
      .poll(async () => (await queueInfo('default')).workers, { timeout: 5_000 })
      .toBeGreaterThan(0);
    for (const id of single) {
      expect((await p.request(`/v1/jobs/${id}/cancel`, { method: 'POST' })).status).toBe(200);
    }
  });

  it('cancels a running job and retries a failed one in whichever partition holds it', async () => {
    const running = (await (
      await postJson(p, '/v1/jobs', { type: 'sleep', data: { ms: 30_000 } })
    ).json()) as {
      id: string;
    };
    await waitForStatus(p.request, running.id, ['active']);
    expect((await p.request(`/v1/jobs/${running.id}/cancel`, { method: 'POST' })).status).toBe(200);
    expect((await waitForStatus(p.request, running.id, ['cancelled'])).queue).toBe('default');

    const failing = (await (
      await postJson(p, '/v1/jobs', { type: 'test.fail', data: { message: 'no' }, attempts: 1 })
    ).json()) as { id: string };
    await waitForStatus(p.request, failing.id, ['failed']);
    const retried = await p.request(`/v1/jobs/${failing.id}/retry`, { method: 'POST' });
    expect(retried.status).toBe(200);
    const again = await waitForStatus(p.request, failing.id, ['failed']);
    expect(again.attempts).toBe(2);
    expect(await holder(failing.id)).toMatch(/^default(\.\d)?$/);
  });

  it('pauses and resumes every partition at once', async () => {
    const paused = await p.request('/v1/queues/default/pause', { method: 'POST' });
    expect(paused.status).toBe(200);
    expect(((await paused.json()) as QueueInfo).paused).toBe(true);
    for (const queue of p.queues.groups().find((g) => g.name === 'default')?.partitions ?? []) {
      expect(await queue.isPaused(), queue.name).toBe(true);
    }
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      ids.push(((await (await postJson(p, '/v1/jobs', { type: 'noop' })).json()) as { id: string }).id);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const id of ids)
      expect(((await (await p.request(`/v1/jobs/${id}`)).json()) as JobStatus).status).toBe('queued');
    const resumed = await p.request('/v1/queues/default/resume', { method: 'POST' });
    expect(((await resumed.json()) as QueueInfo).paused).toBe(false);
    for (const id of ids) await waitForStatus(p.request, id, ['completed']);
  });

  it('splits a limit over the partitions, so together they hold the queue’s, and refuses one too small to split', async () => {
    const set = (body: unknown) =>
      p.request('/v1/queues/default/limits', {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const tooSmall = await set({ concurrency: 3 });
    expect(tooSmall.status).toBe(400);
    expect(JSON.stringify(await tooSmall.json())).toContain('must be at least 4 (one per partition)');
    const ok = await set({ concurrency: 10, rateLimit: { max: 6, durationMs: 1_000 } });
    expect(ok.status).toBe(200);
    const partitionQueues = p.queues.groups().find((g) => g.name === 'default')?.partitions ?? [];
    expect(await Promise.all(partitionQueues.map((q) => q.getGlobalConcurrency()))).toEqual([3, 3, 2, 2]);
    const rates = await Promise.all(partitionQueues.map((q) => q.getGlobalRateLimit()));
    expect(rates.map((r) => r?.max)).toEqual([2, 2, 1, 1]);
    expect((await set({ concurrency: null, rateLimit: null })).status).toBe(200);
    expect(await Promise.all(partitionQueues.map((q) => q.getGlobalConcurrency()))).toEqual([
      null,
      null,
      null,
      null,
    ]);
  });

  it('reports the depth metric and workers once for the queue, not per partition', async () => {
    const metrics = await (await p.app.request('/metrics')).text();
    const depthQueues = new Set(
      [...metrics.matchAll(/^conveyor_queue_depth\{queue="([^"]+)"/gm)].map((match) => match[1]),
    );
    expect(depthQueues).toContain('default');
    expect([...depthQueues].filter((name) => name?.startsWith('default.'))).toEqual([]);
    expect(metrics).toMatch(/^conveyor_queue_workers\{queue="default"\} [1-9]/m);
  });

  it('shows 0 workers for the queue while a worker without the partitions serves only partition 0', async () => {
    await p.stopWorkers();
    p.startWorker({ partitions: new Map() });
    await expect
      .poll(async () => (await p.queues.get('default').getWorkersCount()) > 0, { timeout: 5_000 })
      .toBe(true);
    // Partitions 1-3 have no worker: the listing says so, instead of the one partition's count.
    expect((await queueInfo('default')).workers).toBe(0);
    await p.stopWorkers();
    p.startWorker();
  });
});

interface JobStatus {
  status: string;
}
