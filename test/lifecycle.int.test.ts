import { randomUUID } from 'node:crypto';
import { jobs } from '@conveyor/core/db';
import type { JobView } from '@conveyor/core/jobs';
import { queueJobId } from '@conveyor/core/jobs';
import { freePort } from '@conveyor/dev';
import { useTestServices } from '@conveyor/dev/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipeline, type Pipeline, postJson, waitForStatus } from './harness.js';
import { type AppProcess, startApp, stopApp, waitForOk } from './processes.js';

const services = useTestServices();
let p: Pipeline;
let workerProcess: AppProcess;
const get = (path: string) => p.request(path);
const post = (path: string, body: unknown = {}, headers: Record<string, string> = {}) =>
  postJson(p, path, body, headers);

async function submit(body: unknown): Promise<string> {
  const response = await post('/v1/jobs', body);
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

async function rowOf(id: string) {
  return p.database.db.query.jobs.findFirst({ where: eq(jobs.id, id) });
}

/** Polls until the job's row is that of generation `generation`. */
async function generationRow(id: string, generation: number) {
  const deadline = Date.now() + 15_000;
  let row = await rowOf(id);
  while (row?.generation !== generation && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    row = await rowOf(id);
  }
  return row;
}

beforeAll(async () => {
  p = await createPipeline(services, { bodyLimitBytes: 10 * 1024 * 1024 });
  // Jobs run in a separate worker process: cancellation must cross processes.
  const port = await freePort();
  workerProcess = startApp('worker', {
    REDIS_URL: services.redisUrl,
    DATABASE_URL: services.databaseUrl,
    QUEUE_PREFIX: services.prefix,
    WORKER_PORT: String(port),
    WORKER_CONCURRENCY: '4',
  });
  await waitForOk(`http://127.0.0.1:${port}/health/ready`);
});
afterAll(async () => {
  await stopApp(workerProcess);
  await p.close();
});

describe('cancel', () => {
  it('removes a delayed job and records it cancelled; a second cancel is 409', async () => {
    const id = await submit({ type: 'noop', delayMs: 60_000 });
    const response = await post(`/v1/jobs/${id}/cancel`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ id, status: 'cancelled', error: { code: 'CANCELLED' } });
    expect(await p.queues.get('default').getJob(queueJobId('default', id))).toBeUndefined();
    expect(await rowOf(id)).toMatchObject({ status: 'cancelled', runs: 0 });
    expect((await post(`/v1/jobs/${id}/cancel`)).status).toBe(409);
  });

  it('aborts a running sleep job on another worker process and does not retry it', async () => {
    const id = await submit({ type: 'sleep', data: { ms: 20_000 } });
    await waitForStatus(get, id, ['active']);
    const started = Date.now();
    expect((await post(`/v1/jobs/${id}/cancel`)).status).toBe(200);
    // The handler was aborted: BullMQ finishes the job long before the 20 s sleep.
    const deadline = Date.now() + 5_000;
    let state = await p.queues.get('default').getJobState(queueJobId('default', id));
    while (state === 'active' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      state = await p.queues.get('default').getJobState(queueJobId('default', id));
    }
    expect(state).toBe('failed');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await rowOf(id)).toMatchObject({ status: 'cancelled', attempts: 1 });
  });

  it('keeps a handler that ignores the signal from being recorded completed', async () => {
    const id = await submit({ type: 'test.stubborn', data: { ms: 800 } });
    await waitForStatus(get, id, ['active']);
    expect((await post(`/v1/jobs/${id}/cancel`)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(await rowOf(id)).toMatchObject({ status: 'cancelled', result: null });
    expect((await (await get(`/v1/jobs/${id}`)).json()) as JobView).toMatchObject({ status: 'cancelled' });
  });

  it('answers 409 for a finished job and 404 for an unknown one', async () => {
    const id = await submit({ type: 'echo', data: 'x' });
    await waitForStatus(get, id, ['completed']);
    expect(await (await post(`/v1/jobs/${id}/cancel`)).json()).toMatchObject({
      status: 409,
      code: 'CONFLICT',
    });
    expect((await post(`/v1/jobs/${randomUUID()}/cancel`)).status).toBe(404);
  });
});

describe('retry', () => {
  it('runs a failed job again under the same id, continuing its attempts and keeping their errors', async () => {
    const id = await submit({ type: 'test.fail', data: { message: 'nope' }, attempts: 1 });
    await waitForStatus(get, id, ['failed']);
    const retried = await post(`/v1/jobs/${id}/retry`);
    expect(retried.status).toBe(200);
    // The answer says what the retry did: queued again, its new generation not started yet.
    expect(await retried.json()).toMatchObject({
      id,
      status: 'queued',
      startedAt: null,
      finishedAt: null,
      result: null,
    });
    // The new generation has the attempts its submit asked for (1, not the type's 3) and fails
    // it too; its row replaces the first one.
    const row = await generationRow(id, 1);
    expect(row).toMatchObject({
      status: 'failed',
      generation: 1,
      attempts: 2,
      maxAttempts: 2,
      attemptLimit: 1,
    });
    expect(row?.attemptErrors.map((e) => e.attempt)).toEqual([1, 2]);
    expect(await (await get(`/v1/jobs/${id}`)).json()).toMatchObject({
      status: 'failed',
      attempts: 2,
      maxAttempts: 2,
    });
  });

  it('keeps every option its submit had: its own timeoutMs, attempts and priority', async () => {
    // sleep's own timeout is an hour and its attempts 1: this submit asks for 300 ms and 2.
    const id = await submit({ type: 'sleep', data: { ms: 5_000 }, timeoutMs: 300, attempts: 2, priority: 7 });
    const first = await waitForStatus(get, id, ['failed'], 15_000);
    expect(first).toMatchObject({ attempts: 2, maxAttempts: 2, error: { code: 'TIMEOUT' } });
    expect(first.error?.message).toBe('attempt 2 ran longer than its 300 ms timeout');

    const retried = await post(`/v1/jobs/${id}/retry`);
    expect(retried.status).toBe(200);
    expect(await retried.json()).toMatchObject({ status: 'queued', maxAttempts: 4, priority: 7 });
    const row = await generationRow(id, 1);
    expect(row).toMatchObject({ status: 'failed', attempts: 4, maxAttempts: 4, timeoutMs: 300, priority: 7 });
    expect(row?.error).toMatchObject({
      code: 'TIMEOUT',
      message: 'attempt 4 ran longer than its 300 ms timeout',
    });
    expect(row?.attemptErrors.map((e) => [e.attempt, e.code])).toEqual([
      [1, 'TIMEOUT'],
      [2, 'TIMEOUT'],
      [3, 'TIMEOUT'],
      [4, 'TIMEOUT'],
    ]);
  });

  it('runs a cancelled job again to completion', async () => {
    const id = await submit({ type: 'echo', data: { again: true }, delayMs: 60_000 });
    await post(`/v1/jobs/${id}/cancel`);
    expect((await post(`/v1/jobs/${id}/retry`)).status).toBe(200);
    const view = await waitForStatus(get, id, ['completed']);
    expect(view).toMatchObject({ result: { again: true }, source: 'history' });
    expect(await rowOf(id)).toMatchObject({ status: 'completed', generation: 1 });
  });

  it('refuses queued, active and completed jobs with 409', async () => {
    const queued = await submit({ type: 'noop', delayMs: 60_000 });
    expect((await post(`/v1/jobs/${queued}/retry`)).status).toBe(409);
    const done = await submit({ type: 'echo', data: 1 });
    await waitForStatus(get, done, ['completed']);
    expect((await post(`/v1/jobs/${done}/retry`)).status).toBe(409);
    expect((await post(`/v1/jobs/${randomUUID()}/retry`)).status).toBe(404);
  });
});

describe('priorities and delays', () => {
  it('runs higher priority (lower number) first', async () => {
    const queue = p.queues.get('default');
    await queue.pause();
    const low = await submit({ type: 'echo', data: 'low', priority: 100 });
    const high = await submit({ type: 'echo', data: 'high', priority: 1 });
    const mid = await submit({ type: 'echo', data: 'mid', priority: 50 });
    await queue.resume();
    const views = await Promise.all([high, mid, low].map((id) => waitForStatus(get, id, ['completed'])));
    const started = views.map((v) => Date.parse(v.startedAt ?? ''));
    expect(started[0]).toBeLessThanOrEqual(started[1] ?? 0);
    expect(started[1]).toBeLessThanOrEqual(started[2] ?? 0);
  });

  it('starts a runAt job no earlier than asked', async () => {
    const runAt = new Date(Date.now() + 1_000).toISOString();
    const id = await submit({ type: 'echo', data: 'later', runAt });
    expect(((await (await get(`/v1/jobs/${id}`)).json()) as JobView).status).toBe('queued');
    const view = await waitForStatus(get, id, ['completed']);
    expect(Date.parse(view.startedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(runAt) - 50);
  });

  it('rejects a runAt in the past, both runAt and delayMs, and a delay over a year', async () => {
    const past = await post('/v1/jobs', { type: 'noop', runAt: '2020-01-01T00:00:00Z' });
    expect(await past.json()).toMatchObject({
      status: 400,
      errors: [{ path: 'runAt', message: 'is in the past' }],
    });
    const both = await post('/v1/jobs', { type: 'noop', runAt: new Date().toISOString(), delayMs: 5 });
    expect(both.status).toBe(400);
    expect((await post('/v1/jobs', { type: 'noop', delayMs: 366 * 86_400_000 })).status).toBe(400);
    expect((await post('/v1/jobs', { type: 'noop', runAt: 'tomorrow' })).status).toBe(400);
  });
});

describe('progress and logs', () => {
  it('shows the handler progress and log lines on the job', async () => {
    const id = await submit({ type: 'test.progress', data: { steps: 3 } });
    const view = await waitForStatus(get, id, ['completed']);
    expect(view.progress).toBe(100);
    expect(view.logs).toEqual(['step 1 of 3', 'step 2 of 3', 'step 3 of 3']);
  });
});
