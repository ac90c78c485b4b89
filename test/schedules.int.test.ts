import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { schedules } from '@conveyor/core/db';
import type { JobView } from '@conveyor/core/jobs';
import { nextRunTimes, type ScheduleView, type TickData } from '@conveyor/core/schedules';
import { useTestServices } from '@conveyor/dev/testing';
import { defineJob } from '@conveyor/sdk';
import { eq } from 'drizzle-orm';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Handler } from '../apps/worker/src/index.js';
import { createPipeline, type Pipeline, postJson, withKey } from './harness.js';

const services = useTestServices();
let p: Pipeline;
/** Handler runs per job id. */
const calls = new Map<string, number>();
const handlers: Record<string, Handler<never>> = {
  echo: async (input: unknown, { jobId }) => {
    calls.set(jobId, (calls.get(jobId) ?? 0) + 1);
    return input;
  },
};

const get = (path: string) => p.request(path);
const json = async <T>(response: Response | Promise<Response>): Promise<T> =>
  (await response).json() as Promise<T>;
const send = (method: string, path: string, body: unknown) =>
  p.request(path, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function createSchedule(body: Record<string, unknown>): Promise<ScheduleView> {
  const response = await postJson(p, '/v1/schedules', body);
  expect(response.status, JSON.stringify(await response.clone().json())).toBe(201);
  return (await response.json()) as ScheduleView;
}

async function startWorkers(n: number) {
  const started = Array.from({ length: n }, () => p.startWorker({ handlers, concurrency: 4 }));
  await Promise.all(started.map((w) => w.ready()));
  return started;
}

/** Every job a schedule produced (in flight and finished), oldest first. */
async function jobsOf(scheduleId: string): Promise<JobView[]> {
  const page = await json<{ items: JobView[] }>(get(`/v1/jobs?scheduleId=${scheduleId}&limit=500`));
  return page.items.sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt));
}

const schedulerQueue = () => p.queues.internal<TickData>('schedules');

beforeAll(async () => {
  p = await createPipeline(services);
});
afterAll(() => p.close());

describe('an every-second schedule', () => {
  it('makes one job per tick with three workers, keeps doing so across a restart of all of them, and none once paused or deleted', async () => {
    await startWorkers(3);
    const schedule = await createSchedule({
      name: 'heartbeat',
      type: 'echo',
      data: { beat: true },
      everyMs: 1_000,
    });
    expect(schedule).toMatchObject({ state: 'active', everyMs: 1_000, cron: null, runCount: 0 });
    await sleep(2_600);

    // Every worker goes away and three new ones start together, each reconciling at start.
    await p.stopWorkers();
    await startWorkers(3);
    await sleep(2_600);
    expect((await schedulerQueue().getJobSchedulers()).map((s) => s.key)).toEqual([schedule.id]);

    const paused = await send('PATCH', `/v1/schedules/${schedule.id}`, { paused: true });
    expect(await paused.json()).toMatchObject({ state: 'paused', paused: true, nextRuns: [] });
    const pausedAt = Date.now();
    expect(await schedulerQueue().getJobSchedulers()).toEqual([]);
    await sleep(300); // a tick already taken finishes its job

    const beforePause = await jobsOf(schedule.id);
    const created = beforePause.map((j) => Date.parse(j.createdAt));
    // One job per tick: about one a second over the ~7 s it ran, never two for one tick.
    const ranForMs = pausedAt - Date.parse(schedule.createdAt);
    // Ticks due while no worker ran are not replayed: allow for a slow restart.
    expect(beforePause.length).toBeGreaterThanOrEqual(Math.floor(ranForMs / 1_000) - 3);
    expect(beforePause.length).toBeLessThanOrEqual(Math.floor(ranForMs / 1_000) + 1);
    for (let i = 1; i < created.length; i++) {
      const gap = (created[i] ?? 0) - (created[i - 1] ?? 0);
      expect(gap).toBeGreaterThanOrEqual(1_000);
      // A tick is not dropped while workers run (only a restart may leave a longer gap).
      expect(gap).toBeLessThanOrEqual(4_000);
    }
    for (const job of beforePause) {
      expect(job).toMatchObject({ scheduleId: schedule.id, type: 'echo', data: { beat: true } });
      expect(Date.parse(job.createdAt)).toBeLessThan(pausedAt);
    }
    const done = beforePause.filter((j) => j.status === 'completed');
    expect(done.length).toBeGreaterThanOrEqual(beforePause.length - 1);
    for (const job of done) expect(calls.get(job.id), job.id).toBe(1);

    const view = await json<ScheduleView>(get(`/v1/schedules/${schedule.id}`));
    expect(view.runCount).toBe(beforePause.length);
    expect(view.lastRuns?.map((r) => r.jobId)).toEqual(
      beforePause
        .slice(-10)
        .reverse()
        .map((j) => j.id),
    );
    expect(view.lastRuns?.[0]).toMatchObject({
      status: 'completed',
      links: { job: `/v1/jobs/${view.lastRuns?.[0]?.jobId}` },
    });

    await sleep(1_500);
    expect(await jobsOf(schedule.id)).toHaveLength(beforePause.length);

    // Resumed: it runs again; deleted: it stops for good.
    await send('PATCH', `/v1/schedules/${schedule.id}`, { paused: false });
    await expect
      .poll(async () => (await jobsOf(schedule.id)).length, { timeout: 5_000 })
      .toBeGreaterThan(beforePause.length);
    expect((await p.request(`/v1/schedules/${schedule.id}`, { method: 'DELETE' })).status).toBe(204);
    const deletedAt = Date.now();
    expect(await schedulerQueue().getJobSchedulers()).toEqual([]);
    await sleep(300);
    const atDelete = (await jobsOf(schedule.id)).length;
    await sleep(1_500);
    const after = await jobsOf(schedule.id);
    expect(after).toHaveLength(atDelete);
    for (const job of after) expect(Date.parse(job.createdAt)).toBeLessThan(deletedAt);
    expect((await get(`/v1/schedules/${schedule.id}`)).status).toBe(404);
  });

  it('stops after its run limit', async () => {
    const schedule = await createSchedule({ type: 'echo', data: 'twice', everyMs: 1_000, limit: 2 });
    await expect
      .poll(async () => (await json<ScheduleView>(get(`/v1/schedules/${schedule.id}`))).state, {
        timeout: 5_000,
      })
      .toBe('finished');
    await sleep(1_200);
    const view = await json<ScheduleView>(get(`/v1/schedules/${schedule.id}`));
    expect(view).toMatchObject({ runCount: 2, nextRuns: [], state: 'finished' });
    expect(await jobsOf(schedule.id)).toHaveLength(2);
    expect((await schedulerQueue().getJobSchedulers()).map((s) => s.key)).not.toContain(schedule.id);
  });
});

describe('Postgres is the source of truth', () => {
  it('heals BullMQ at worker start: a lost scheduler comes back, a stray one goes, several starting workers make one', async () => {
    await p.stopWorkers();
    const yearly = await createSchedule({ type: 'noop', cron: '0 0 1 1 *', tz: 'UTC' });
    const queue = schedulerQueue();
    // A Redis write lost, and a scheduler no row accounts for.
    await queue.removeJobScheduler(yearly.id);
    const stray = randomUUID();
    await queue.upsertJobScheduler(
      stray,
      { every: 60_000 },
      { name: 'tick', data: { scheduleId: stray, tenant: 'default', revision: 1 } },
    );
    await startWorkers(3);
    const schedulers = await queue.getJobSchedulers();
    expect(schedulers.map((s) => s.key)).toEqual([yearly.id]);
    expect(schedulers[0]).toMatchObject({ pattern: '0 0 1 1 *', tz: 'UTC' });
    expect(await queue.getJobCountByTypes('delayed', 'wait')).toBe(1);
  });

  it('submits nothing for a tick whose row is gone, and removes its scheduler', async () => {
    const schedule = await createSchedule({ type: 'echo', data: 'x', everyMs: 1_000 });
    await expect.poll(async () => (await jobsOf(schedule.id)).length, { timeout: 5_000 }).toBeGreaterThan(0);
    // Deleted behind the API's back: BullMQ still ticks, Postgres says no.
    await p.database.db.delete(schedules).where(eq(schedules.id, schedule.id));
    const count = (await jobsOf(schedule.id)).length;
    await expect
      .poll(async () => (await schedulerQueue().getJobSchedulers()).map((s) => s.key), { timeout: 5_000 })
      .not.toContain(schedule.id);
    await sleep(1_200);
    expect(await jobsOf(schedule.id)).toHaveLength(count);
  });
});

describe('cron schedules', () => {
  it('computes the next runs of a time-zone cron as documented', async () => {
    const schedule = await createSchedule({ type: 'noop', cron: '0 9 * * 1-5', tz: 'Europe/Paris' });
    expect(schedule.nextRuns).toHaveLength(5);
    const paris = new Intl.DateTimeFormat('en-GB', {
      timeZone: 'Europe/Paris',
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hour12: false,
    });
    for (const run of schedule.nextRuns) {
      const parts = Object.fromEntries(paris.formatToParts(new Date(run)).map((x) => [x.type, x.value]));
      expect(`${parts.hour}:${parts.minute}`).toBe('09:00');
      expect(['Mon', 'Tue', 'Wed', 'Thu', 'Fri']).toContain(parts.weekday);
    }
    const expected = nextRunTimes(
      {
        cron: '0 9 * * 1-5',
        tz: 'Europe/Paris',
        everyMs: null,
        startAt: null,
        endAt: null,
        limit: null,
        runCount: 0,
      },
      new Date(),
      5,
    ).map((d) => d.toISOString());
    expect(schedule.nextRuns).toEqual(expected);
    const scheduler = await schedulerQueue().getJobScheduler(schedule.id);
    // BullMQ agrees on the first one.
    expect(scheduler?.next).toBe(Date.parse(schedule.nextRuns[0] ?? ''));
  });

  it('answers 400 saying whether the pattern or the time zone is wrong, and validates the rest', async () => {
    const cases: [Record<string, unknown>, string[]][] = [
      [{ type: 'noop', cron: '61 * * * *' }, ['cron']],
      [{ type: 'noop', cron: '0 9 * * *', tz: 'Mars/Base' }, ['tz']],
      [{ type: 'noop', cron: 'often', tz: 'Nowhere/Land' }, ['tz', 'cron']],
      [{ type: 'noop', cron: '* * * * *', everyMs: 1_000 }, ['everyMs']],
      [{ type: 'noop' }, ['cron']],
      [{ type: 'noop', everyMs: 500 }, ['everyMs']],
      [{ type: 'noop', everyMs: 1_000, tz: 'UTC' }, ['tz']],
      [{ type: 'sleep', data: { ms: 'x' }, everyMs: 1_000 }, ['data.ms']],
      [{ type: 'noop', everyMs: 1_000, endAt: '2020-01-01T00:00:00Z' }, ['endAt']],
      [{ type: 'noop', everyMs: 1_000, callbackUrl: 'ftp://x' }, ['callbackUrl']],
      [{ type: 'noop', everyMs: 1_000, colour: 'red' }, ['colour']],
    ];
    for (const [body, paths] of cases) {
      const response = await postJson(p, '/v1/schedules', body);
      const problem = (await response.json()) as { code: string; errors: { path: string }[] };
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(problem.code).toBe('VALIDATION_FAILED');
      expect([...new Set(problem.errors.map((e) => e.path))], JSON.stringify(problem)).toEqual(paths);
    }
    const unknown = await postJson(p, '/v1/schedules', { type: 'nope', everyMs: 1_000 });
    expect(await unknown.json()).toMatchObject({ status: 400, code: 'UNKNOWN_JOB_TYPE' });
    const schedule = await createSchedule({ type: 'noop', cron: '0 0 1 1 *' });
    expect(schedule.tz).toBe('UTC');
    const bad = await send('PATCH', `/v1/schedules/${schedule.id}`, { tz: 'Atlantis/Capital' });
    expect(await bad.json()).toMatchObject({ status: 400, errors: [{ path: 'tz' }] });
    const switched = await json<ScheduleView>(
      send('PATCH', `/v1/schedules/${schedule.id}`, { everyMs: 3_600_000 }),
    );
    expect(switched).toMatchObject({ cron: null, tz: null, everyMs: 3_600_000, revision: 2 });
  });

  it('keeps schedules per tenant and needs jobs:write to change them', async () => {
    const mine = await createSchedule({ type: 'noop', cron: '0 0 1 1 *' });
    const other = (await p.keys.create({ tenant: 'other', name: 'o', scopes: ['admin'] })).key;
    for (const method of ['GET', 'PATCH', 'DELETE']) {
      const response = await p.app.request(
        `/v1/schedules/${mine.id}`,
        withKey(other, {
          method,
          headers: { 'content-type': 'application/json' },
          ...(method === 'PATCH' ? { body: '{"paused":true}' } : {}),
        }),
      );
      expect(response.status, method).toBe(404);
    }
    expect(
      (await json<{ items: ScheduleView[] }>(p.app.request('/v1/schedules', withKey(other)))).items,
    ).toEqual([]);
    const reader = (await p.keys.create({ tenant: 'default', name: 'r', scopes: ['jobs:read'] })).key;
    expect((await p.app.request(`/v1/schedules/${mine.id}`, withKey(reader))).status).toBe(200);
    expect(
      (await p.app.request(`/v1/schedules/${mine.id}`, withKey(reader, { method: 'DELETE' }))).status,
    ).toBe(403);
    const listed = await json<{ items: ScheduleView[]; nextCursor: string | null }>(
      get('/v1/schedules?limit=1'),
    );
    expect(listed.items).toHaveLength(1);
    expect(listed.nextCursor).not.toBeNull();
  });
});

describe("a team's own type", () => {
  it('is fired by a worker serving `schedules` that does not run the type: its queue and defaults come from the registry', async () => {
    await p.stopWorkers();
    const report = defineJob({
      name: 'acme.nightly',
      description: 'A nightly report.',
      queue: 'nightly',
      attempts: 2,
      input: v.strictObject({ day: v.string() }),
      run: async ({ day }) => ({ report: day }),
    });
    // The team's worker serves its own queue only; the stock worker serves `schedules`
    // without knowing acme.nightly.
    const team = p.startWorker({ jobs: [report], onlyJobs: true, queues: ['nightly'] });
    const scheduler = p.startWorker({ queues: ['schedules'] });
    await Promise.all([team.ready(), scheduler.ready()]);
    const schedule = await createSchedule({
      type: 'acme.nightly',
      data: { day: 'monday' },
      everyMs: 1_000,
      limit: 1,
    });
    await expect
      .poll(async () => (await jobsOf(schedule.id)).map((j) => j.status), { timeout: 5_000 })
      .toEqual(['completed']);
    const [job] = await jobsOf(schedule.id);
    expect(job).toMatchObject({
      type: 'acme.nightly',
      queue: 'nightly',
      maxAttempts: 2,
      result: { report: 'monday' },
    });
    await p.stopWorkers();
  });
});
