import { setTimeout as sleep } from 'node:timers/promises';
import { jobs } from '@conveyor/core/db';
import { eventChannels, type StatusEvent } from '@conveyor/core/events';
import type { JobView } from '@conveyor/core/jobs';
import { createRedis } from '@conveyor/core/redis';
import { useTestServices } from '@conveyor/dev/testing';
import { eq } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipeline, type Pipeline, postJson, waitForStatus } from './harness.js';

const services = useTestServices();
let p: Pipeline;
let subscriber: Redis;
const get = (path: string) => p.request(path);

async function submit(body: unknown): Promise<string> {
  const response = await postJson(p, '/v1/jobs', body);
  expect(response.status, JSON.stringify(await response.clone().json())).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

beforeAll(async () => {
  p = await createPipeline(services);
  subscriber = createRedis(services.redisUrl, 'subscriber');
});
afterAll(async () => {
  subscriber.disconnect();
  await p.close();
});

describe('expiry of waiting jobs', () => {
  it('ends a job with ttlMs 200 submitted while no worker runs as expired once a worker starts; its handler never runs', async () => {
    const stale = await submit({ type: 'echo', data: 'stale', ttlMs: 200 });
    const staleAt = await submit({
      type: 'echo',
      data: 'stale',
      expiresAt: new Date(Date.now() + 200).toISOString(),
    });
    const byTypeDefault = await submit({ type: 'test.perishable' });
    const fresh = await submit({ type: 'echo', data: 'fresh', ttlMs: 60_000 });
    const events: StatusEvent[] = [];
    subscriber.on('message', (_channel: string, message: string) => events.push(JSON.parse(message)));
    await subscriber.subscribe(eventChannels(services.prefix).job('default', stale));

    const queued = (await (await get(`/v1/jobs/${stale}`)).json()) as JobView;
    expect(queued.status).toBe('queued');
    expect(Date.parse(queued.expiresAt ?? '')).toBe(Date.parse(queued.createdAt) + 200);
    await sleep(400);

    const ran: string[] = [];
    p.startWorker({
      handlers: {
        echo: async (input: unknown, { jobId }) => {
          ran.push(jobId);
          return input;
        },
        'test.perishable': async (_input: unknown, { jobId }) => {
          ran.push(jobId);
          return { ran: true };
        },
      },
    });
    for (const id of [stale, staleAt, byTypeDefault]) {
      const view = await waitForStatus(get, id, ['expired', 'completed', 'failed']);
      expect(view).toMatchObject({
        status: 'expired',
        error: { code: 'EXPIRED', retryable: false },
        startedAt: null,
      });
      expect(view.error?.message).toContain('not started before it expired');
      const [row] = await p.database.db.select().from(jobs).where(eq(jobs.id, id));
      expect(row).toMatchObject({ status: 'expired', runs: 0, attempts: 0 });
    }
    expect(await waitForStatus(get, fresh, ['completed'])).toMatchObject({ result: 'fresh' });
    expect(ran).toEqual([fresh]);

    // The terminal event was published, with no `active` before it.
    await expect.poll(() => events.map((e) => e.status)).toEqual(['expired']);
    expect(events[0]).toMatchObject({ jobId: stale, type: 'echo', error: { code: 'EXPIRED' } });
    const metrics = await p.workerMetrics?.registry.metrics();
    expect(metrics).toContain('conveyor_jobs_finished_total{type="echo",status="expired"} 2');
    expect(metrics).toContain('conveyor_jobs_finished_total{type="test.perishable",status="expired"} 1');
    expect(metrics).toContain('conveyor_jobs_finished_total{type="echo",status="completed"} 1');

    // A retry through the API is asked for now: it runs, and does not expire again.
    expect((await postJson(p, `/v1/jobs/${stale}/retry`, {})).status).toBe(200);
    expect(await waitForStatus(get, stale, ['completed'])).toMatchObject({
      result: 'stale',
      expiresAt: null,
    });
    expect(ran).toEqual([fresh, stale]);
  });

  it('rejects ttlMs with expiresAt, an expiresAt in the past or before runAt, and a ttlMs out of range', async () => {
    const cases: [unknown, string][] = [
      [{ type: 'noop', ttlMs: 100, expiresAt: new Date(Date.now() + 60_000).toISOString() }, 'expiresAt'],
      [{ type: 'noop', expiresAt: '2020-01-01T00:00:00Z' }, 'expiresAt'],
      [
        { type: 'noop', delayMs: 60_000, expiresAt: new Date(Date.now() + 30_000).toISOString() },
        'expiresAt',
      ],
      [{ type: 'noop', ttlMs: 0 }, 'ttlMs'],
      [{ type: 'noop', expiresAt: 'soon' }, 'expiresAt'],
    ];
    for (const [body, path] of cases) {
      const response = await postJson(p, '/v1/jobs', body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      const problem = (await response.json()) as { errors: { path: string }[] };
      expect(problem.errors.map((e) => e.path)).toContain(path);
    }
  });

  it('counts ttlMs from when a delayed job becomes due', async () => {
    const id = await submit({ type: 'echo', data: 'later', delayMs: 500, ttlMs: 10_000 });
    const view = (await (await get(`/v1/jobs/${id}`)).json()) as JobView;
    expect(Date.parse(view.expiresAt ?? '')).toBe(Date.parse(view.createdAt) + 10_500);
    expect(await waitForStatus(get, id, ['completed', 'expired'])).toMatchObject({ status: 'completed' });
  });
});
