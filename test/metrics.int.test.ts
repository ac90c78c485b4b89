import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TICK_JOB_NAME, type TickData } from '@conveyor/core/schedules';
import { useTestServices } from '@conveyor/dev/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkerServerApp, type WorkerMetrics } from '../apps/worker/src/index.js';
import { createPipeline, type Pipeline, postJson, waitForStatus } from './harness.js';
import { promtoolCheckMetrics, samples } from './prometheus.js';

const services = useTestServices();
let p: Pipeline;

beforeAll(async () => {
  p = await createPipeline(services);
});
afterAll(() => p.close());

/**
 * Fails on promtool's findings. Without promtool here (CI installs and requires it) the check
 * is not made, and the run's last summary line says so (test/tool-reporter.ts).
 */
function expectValidExposition(text: string): void {
  const check = promtoolCheckMetrics(text);
  if (check !== null) expect(check).toEqual([]);
}

async function submit(body: unknown): Promise<string> {
  const response = await postJson(p, '/v1/jobs', body);
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

const done = (id: string, statuses = ['completed']) => waitForStatus((path) => p.request(path), id, statuses);

describe('GET /metrics (API)', () => {
  it('exports queue depth per state that matches BullMQ after known submits', async () => {
    const queue = p.queues.get('default');
    await queue.pause();
    for (let i = 0; i < 4; i++) await postJson(p, '/v1/jobs', { type: 'noop', delayMs: 60_000 });
    for (let i = 0; i < 3; i++) await postJson(p, '/v1/jobs', { type: 'noop', priority: 5 });
    for (let i = 0; i < 2; i++) await postJson(p, '/v1/jobs', { type: 'noop' });
    await new Promise((resolve) => setTimeout(resolve, 2_100)); // past the depth cache
    const text = await (await p.app.request('/metrics')).text();
    const values = samples(text);
    const counts = await queue.getJobCounts('wait', 'prioritized', 'delayed');
    expect(values.get('conveyor_queue_depth{queue="default",state="delayed"}')).toBe(counts.delayed);
    expect(values.get('conveyor_queue_depth{queue="default",state="delayed"}')).toBe(4);
    expect(values.get('conveyor_queue_depth{queue="default",state="prioritized"}')).toBe(3);
    expect(values.get('conveyor_queue_depth{queue="default",state="paused"}')).toBe(counts.wait);
    expect(values.get('conveyor_queue_depth{queue="default",state="waiting"}')).toBe(0);
    expect(values.get('conveyor_queue_workers{queue="default"}')).toBe(await queue.getWorkersCount());
    // Conveyor's own queues are exported too.
    expect(values.get('conveyor_queue_depth{queue="callbacks",state="waiting"}')).toBe(0);
    expect(values.get('conveyor_queue_depth{queue="schedules",state="delayed"}')).toBe(0);
    expect(values.get('conveyor_jobs_submitted_total{type="noop"}')).toBe(9);
    expect(text).toMatch(/conveyor_http_requests_total\{method="POST",route="\/v1\/jobs",status="202"\} 9/);
    expect(text).toMatch(
      /conveyor_http_request_duration_seconds_count\{method="POST",route="\/v1\/jobs",status="202"\} 9/,
    );
    await queue.resume();
    expectValidExposition(text);
  });

  it('labels requests by route template, never by raw path', async () => {
    const id = '0b6f5d1e-8a0e-4e8f-9c61-3f1f1c0c2a11';
    expect((await p.request(`/v1/jobs/${id}`)).status).toBe(404);
    expect((await p.request(`/no/such/${id}`)).status).toBe(404);
    const text = await (await p.app.request('/metrics')).text();
    expect(text).toContain('route="/v1/jobs/:id",status="404"');
    expect(text).not.toContain(id);
  });

  it('reads Redis at most once per cache period, however many scrapes', async () => {
    const queue = p.queues.get('default');
    const before = samples(await (await p.app.request('/metrics')).text());
    await queue.pause();
    await postJson(p, '/v1/jobs', { type: 'noop' });
    const cached = samples(await (await p.app.request('/metrics')).text());
    expect(cached.get('conveyor_queue_depth{queue="default",state="paused"}')).toBe(
      before.get('conveyor_queue_depth{queue="default",state="paused"}'),
    );
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    const fresh = samples(await (await p.app.request('/metrics')).text());
    expect(fresh.get('conveyor_queue_depth{queue="default",state="paused"}')).toBe(
      (await queue.getJobCounts('wait')).wait,
    );
    await queue.resume();
  });
});

describe('GET /metrics (worker)', () => {
  let metrics: WorkerMetrics;
  const scrape = async () => {
    const app = createWorkerServerApp({
      redis: p.producer,
      database: p.database,
      registry: metrics.registry,
    });
    return (await app.request('/metrics')).text();
  };

  it('measures queue wait from enqueue to start, by type', async () => {
    const ids = [await submit({ type: 'echo', data: 1 }), await submit({ type: 'echo', data: 2 })];
    await new Promise((resolve) => setTimeout(resolve, 400)); // no worker yet: they wait
    p.startWorker();
    metrics = p.workerMetrics as WorkerMetrics;
    for (const id of ids) await done(id);
    const values = samples(await scrape());
    expect(values.get('conveyor_job_wait_seconds_count{type="echo"}')).toBe(2);
    expect(values.get('conveyor_job_wait_seconds_sum{type="echo"}')).toBeGreaterThanOrEqual(0.8);
    expect(values.get('conveyor_job_wait_seconds_bucket{le="0.25",type="echo"}')).toBe(0);
    expect(values.get('conveyor_jobs_finished_total{type="echo",status="completed"}')).toBe(2);
    expect(values.get('conveyor_job_duration_seconds_count{type="echo"}')).toBe(2);
    expect(values.get('conveyor_worker_concurrency{queue="default"}')).toBe(8);
  });

  it('counts retries, and run time for every attempt', async () => {
    const id = await submit({ type: 'test.flaky', data: { failures: 1 }, attempts: 2 });
    await done(id);
    const values = samples(await scrape());
    expect(values.get('conveyor_job_retries_total{type="test.flaky"}')).toBe(1);
    expect(values.get('conveyor_job_duration_seconds_count{type="test.flaky"}')).toBe(2);
    expect(values.get('conveyor_jobs_finished_total{type="test.flaky",status="completed"}')).toBe(1);
    // Only the first attempt waited in the queue; the second waited out a backoff.
    expect(values.get('conveyor_job_wait_seconds_count{type="test.flaky"}')).toBe(1);
  });

  it('shows running jobs while they run', async () => {
    const id = await submit({ type: 'sleep', data: { ms: 600 } });
    await done(id, ['active']);
    expect(samples(await scrape()).get('conveyor_jobs_active{type="sleep"}')).toBe(1);
    await done(id);
    // The row (what GET reads) commits before the attempt returns (webhook deliveries are enqueued in
    // between), so the gauge drops a moment after the job shows completed.
    await expect
      .poll(async () => samples(await scrape()).get('conveyor_jobs_active{type="sleep"}'), { timeout: 2_000 })
      .toBe(0);
  });

  it('measures result batches: rows per INSERT and commit time, in valid exposition format', async () => {
    const ids = await Promise.all(Array.from({ length: 20 }, (_, n) => submit({ type: 'echo', data: n })));
    for (const id of ids) await done(id);
    const text = await scrape();
    const values = samples(text);
    const finished = [...values]
      .filter(([name]) => name.startsWith('conveyor_jobs_finished_total{'))
      .reduce((sum, [, n]) => sum + n, 0);
    // Every terminal row went through exactly one batch.
    expect(values.get('conveyor_result_batch_rows_sum')).toBe(finished);
    const batches = values.get('conveyor_result_batch_rows_count') ?? 0;
    expect(batches).toBeGreaterThan(0);
    expect(batches).toBeLessThanOrEqual(finished);
    expect(values.get('conveyor_result_commit_duration_seconds_count')).toBe(batches);
    expect(values.get('conveyor_result_commit_errors_total')).toBe(0);
    expect(text).toContain('process_cpu_seconds_total');
    expect(text).not.toMatch(/conveyor_queue_depth/);
    expectValidExposition(text);
  });

  it('counts schedule ticks and webhook POSTs by outcome', async () => {
    // The receiver answers its first POST with 500, then 204: one retry, then delivered.
    let posts = 0;
    const receiver = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        posts++;
        res.writeHead(posts === 1 ? 500 : 204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    const value = (name: string) => async () => samples(await scrape()).get(name) ?? 0;
    try {
      const once = await postJson(p, '/v1/schedules', {
        type: 'echo',
        data: 'tick',
        everyMs: 1_000,
        limit: 1,
        callbackUrl: `${base}/callback`,
      });
      expect(once.status).toBe(201);
      const paused = await postJson(p, '/v1/schedules', { type: 'noop', everyMs: 1_000, paused: true });
      const { id: pausedId } = (await paused.json()) as { id: string };
      // A tick of a paused schedule (one already in Redis when it was paused) runs nothing.
      await p.queues
        .internal<TickData>('schedules')
        .add(TICK_JOB_NAME, { scheduleId: pausedId, tenant: 'default', revision: 0 });

      const poll = { timeout: 10_000, interval: 100 };
      await expect.poll(value('conveyor_schedule_ticks_total{outcome="submitted"}'), poll).toBe(1);
      await expect.poll(value('conveyor_schedule_ticks_total{outcome="skipped"}'), poll).toBe(1);
      await expect.poll(value('conveyor_callback_attempts_total{outcome="delivered"}'), poll).toBe(1);
      expect(await value('conveyor_callback_attempts_total{outcome="retrying"}')()).toBe(1);
      expect(await value('conveyor_callback_attempts_total{outcome="failed"}')()).toBe(0);
      expect(posts).toBe(2);
      expectValidExposition(await scrape());
    } finally {
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
      receiver.closeAllConnections();
    }
  });
});
