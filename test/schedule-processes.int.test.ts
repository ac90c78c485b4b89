import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { schedules } from '@conveyor/core/db';
import type { JobView } from '@conveyor/core/jobs';
import type { TickData } from '@conveyor/core/schedules';
import { freePort } from '@conveyor/dev';
import { useTestServices } from '@conveyor/dev/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipeline, type Pipeline } from './harness.js';
import { type AppProcess, startApp, stopApp, waitForOk } from './processes.js';

const services = useTestServices();
let p: Pipeline;

/** A worker process as production runs it (main.ts), on this file's Redis prefix and database. */
async function startWorkerProcess(): Promise<AppProcess> {
  const port = await freePort();
  const worker = startApp('worker', {
    REDIS_URL: services.redisUrl,
    DATABASE_URL: services.databaseUrl,
    QUEUE_PREFIX: services.prefix,
    WORKER_PORT: String(port),
    WORKER_CONCURRENCY: '4',
  });
  await waitForOk(`http://127.0.0.1:${port}/health/live`);
  return worker;
}

const schedulerQueue = () => p.queues.internal<TickData>('schedules');

/** Every job a schedule produced (in flight and finished), oldest first. */
async function jobsOf(scheduleId: string): Promise<JobView[]> {
  const response = await p.request(`/v1/jobs?scheduleId=${scheduleId}&limit=500`);
  const page = (await response.json()) as { items: JobView[] };
  return page.items.sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt));
}

beforeAll(async () => {
  // The API in this process; the workers are real processes (main.ts), as in production.
  p = await createPipeline(services);
});
afterAll(() => p.close());

describe('worker processes', () => {
  it('two processes started together run a schedule once per tick, across a SIGKILL of both and a restart', async () => {
    // Written to Postgres only, as if its Redis write was lost: the workers' start reconciles it.
    const id = randomUUID();
    const createdAt = Date.now();
    await p.database.db
      .insert(schedules)
      .values({ id, tenant: 'default', type: 'echo', data: 'proc', everyMs: 1_000 });
    const start = () => Promise.all([startWorkerProcess(), startWorkerProcess()]);
    const first = await start();
    await sleep(2_500);
    for (const worker of first) worker.child.kill('SIGKILL');
    await Promise.all(first.map((w) => w.exited));
    const second = await start();
    await sleep(2_500);
    expect((await schedulerQueue().getJobSchedulers()).map((s) => s.key)).toContain(id);
    // One scheduler, one next tick: starting twice (four processes in all) made no second.
    // (Polled: for the moment a tick runs, it is active and the next one may not be added yet.)
    const pendingTicks = async () =>
      (await schedulerQueue().getJobs(['delayed', 'wait'])).filter((tick) => tick.repeatJobKey === id).length;
    await expect.poll(pendingTicks, { timeout: 3_000, interval: 50 }).toBe(1);
    expect(await pendingTicks()).toBeLessThanOrEqual(1);
    await Promise.all(second.map((w) => stopApp(w)));
    const stoppedAt = Date.now();

    const produced = await jobsOf(id);
    const created = produced.map((j) => Date.parse(j.createdAt));
    expect(produced.length).toBeGreaterThanOrEqual(3);
    expect(produced.length).toBeLessThanOrEqual(Math.floor((stoppedAt - createdAt) / 1_000) + 1);
    for (let i = 1; i < created.length; i++) {
      expect((created[i] ?? 0) - (created[i - 1] ?? 0)).toBeGreaterThanOrEqual(1_000);
    }
    const [row] = await p.database.db.select().from(schedules).where(eq(schedules.id, id));
    expect(row?.runCount).toBe(produced.length);
    await p.request(`/v1/schedules/${id}`, { method: 'DELETE' });
  });
});
