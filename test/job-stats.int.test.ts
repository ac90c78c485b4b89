import { createClient } from '@conveyor/client';
import { useTestServices } from '@conveyor/dev/testing';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobStats } from '../apps/api/src/jobs/job-stats.js';
import { createPipeline, type Pipeline, postJson, waitForStatus, withKey } from './harness.js';

const services = useTestServices();
let p: Pipeline;
let sql: postgres.Sql;

beforeAll(async () => {
  p = await createPipeline(services);
  sql = postgres(services.databaseUrl, { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await p.close();
  await sql.end();
});

async function submit(body: unknown): Promise<string> {
  const response = await postJson(p, '/v1/jobs', body);
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

describe('GET /v1/stats', () => {
  it("counts the tenant's outcomes apart, in total and per minute, over the window asked for", async () => {
    const expired = await submit({ type: 'echo', data: 'late', ttlMs: 1 });
    const cancelled = await submit({ type: 'noop', delayMs: 60_000 });
    expect((await postJson(p, `/v1/jobs/${cancelled}/cancel`, {})).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 20));
    p.startWorker();
    const completed = [await submit({ type: 'echo', data: 1 }), await submit({ type: 'echo', data: 2 })];
    const failed = [
      await submit({ type: 'test.fail', data: { message: 'no' }, attempts: 1 }),
      await submit({ type: 'test.fail', data: { message: 'no' }, attempts: 1 }),
    ];
    for (const id of [...completed, ...failed, expired]) {
      await waitForStatus((path) => p.request(path), id, ['completed', 'failed', 'expired']);
    }
    // One failure from two hours ago: outside the default hour, inside a three-hour window.
    await sql`update jobs set finished_at = now() - interval '2 hours' where id = ${failed[1] as string}`;

    const stats = (await (await p.request('/v1/stats')).json()) as JobStats;
    expect(stats.minutes).toBe(60);
    expect(stats.totals).toEqual({ completed: 2, failed: 1, cancelled: 1, expired: 1 });
    expect(stats.perMinute).toHaveLength(60);
    const sum = (key: keyof JobStats['totals']) => stats.perMinute.reduce((n, m) => n + m[key], 0);
    expect({
      completed: sum('completed'),
      failed: sum('failed'),
      cancelled: sum('cancelled'),
      expired: sum('expired'),
    }).toEqual(stats.totals);
    // Minutes are consecutive, oldest first, ending with the current one.
    const starts = stats.perMinute.map((m) => Date.parse(m.at));
    expect(starts.every((t, i) => i === 0 || t - (starts[i - 1] as number) === 60_000)).toBe(true);
    expect(Date.parse(stats.from)).toBe(starts[0]);
    expect(Date.parse(stats.to) - (starts.at(-1) as number)).toBeLessThan(60_000);

    // The TypeScript client asks the same route.
    const client = createClient({
      url: 'http://api.test',
      apiKey: p.apiKey,
      fetch: ((input: string, init?: RequestInit) => p.app.request(input, init)) as typeof fetch,
    });
    const wide = await client.stats(180);
    expect(await client.stats()).toMatchObject({ minutes: 60, totals: stats.totals });
    expect(wide.totals).toEqual({ completed: 2, failed: 2, cancelled: 1, expired: 1 });
    expect(wide.perMinute).toHaveLength(180);

    // Another tenant's jobs are not counted.
    const other = (await p.keys.create({ tenant: 'stats-other', name: 'o', scopes: ['jobs:read'] })).key;
    const theirs = (await (await p.app.request('/v1/stats', withKey(other))).json()) as JobStats;
    expect(theirs.totals).toEqual({ completed: 0, failed: 0, cancelled: 0, expired: 0 });
  });

  it('answers 400 naming minutes for a window out of range or not a number', async () => {
    for (const minutes of ['0', '1441', 'x', '1.5']) {
      const response = await p.request(`/v1/stats?minutes=${minutes}`);
      expect(response.status, minutes).toBe(400);
      const body = (await response.json()) as { errors: { path: string; message: string }[] };
      expect(body.errors[0]).toMatchObject({ path: 'minutes', message: 'must be an integer from 1 to 1440' });
    }
  });
});
