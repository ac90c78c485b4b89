import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '@conveyor/dev';
import { useTestServices } from '@conveyor/dev/testing';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppProcess, startApi, startWorker, stopApp } from './drills/drill-kit.js';
import { authHeaders, waitForOk } from './processes.js';

/**
 * Per-queue limits set by an operator (PATCH /v1/queues/:name/limits) hold across worker
 * processes: a global concurrency and a rate limit, on top of each process's own
 * WORKER_CONCURRENCY. Held-back jobs stay queued and use no attempt.
 */
const services = useTestServices();
let sql: postgres.Sql;
let api: { url: string; process: AppProcess };
const started: AppProcess[] = [];

beforeAll(async () => {
  sql = postgres(services.databaseUrl, { max: 2, onnotice: () => {} });
  api = await startApi(services);
  started.push(api.process);
  // Two worker processes, each willing to run 8 jobs of a queue at once.
  for (let i = 0; i < 2; i++) started.push(await startWorker(services, { WORKER_CONCURRENCY: '8' }));
  // The API learns the queues from what the workers registered.
  for (let tries = 0; tries < 100; tries++) {
    const list = await fetch(`${api.url}/v1/queues`, { headers: authHeaders() });
    const { items } = (await list.json()) as { items: { name: string }[] };
    if (items.some((q) => q.name === 'default')) break;
    await sleep(200);
  }
}, 60_000);
afterAll(async () => {
  await Promise.all(started.map((p) => stopApp(p, 'SIGKILL')));
  await sql.end();
});

const putLimits = (queue: string, body: unknown) =>
  fetch(`${api.url}/v1/queues/${queue}/limits`, {
    method: 'PATCH',
    headers: authHeaders({ 'content-type': 'application/json' }),
    body: JSON.stringify(body),
  });

interface Held {
  jobs: number;
  by: string[];
}

/** GET /v1/queues' `held` of the default queue, read until `until` holds it (or 20 s pass). */
async function heldUntil(until: (held: Held) => boolean): Promise<Held | null> {
  const deadline = Date.now() + 20_000;
  let held: Held | null = null;
  while (Date.now() < deadline) {
    const list = (await (await fetch(`${api.url}/v1/queues`, { headers: authHeaders() })).json()) as {
      items: { name: string; held: Held | null }[];
    };
    held = list.items.find((q) => q.name === 'default')?.held ?? null;
    if (held && until(held)) return held;
    await sleep(25);
  }
  return held;
}

async function submit(count: number, job: unknown): Promise<string[]> {
  const response = await fetch(`${api.url}/v1/jobs/batch`, {
    method: 'POST',
    headers: authHeaders({ 'content-type': 'application/json' }),
    body: JSON.stringify({ jobs: Array.from({ length: count }, () => job) }),
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { items: { id: string }[] }).items.map((i) => i.id);
}

interface Run {
  started_at: string | Date;
  finished_at: string | Date;
  attempts: number;
  status: string;
}
async function runsOf(ids: string[], timeoutMs = 60_000): Promise<Run[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await sql<
      Run[]
    >`select started_at, finished_at, attempts, status from jobs where id = any(${ids})`;
    if (rows.length === ids.length || Date.now() > deadline) return rows;
    await sleep(200);
  }
}

/**
 * The most of `rows` running at one moment, from their recorded run intervals; every one
 * completed in its first attempt (a held-back job is never failed nor charged an attempt).
 */
function mostAtOnce(rows: Run[]): number {
  expect(rows.every((r) => r.status === 'completed' && r.attempts === 1)).toBe(true);
  const points = rows.flatMap((r) => [
    { t: new Date(r.started_at).getTime(), d: 1 },
    { t: new Date(r.finished_at).getTime(), d: -1 },
  ]);
  points.sort((a, b) => a.t - b.t || a.d - b.d);
  let running = 0;
  let most = 0;
  for (const p of points) {
    running += p.d;
    most = Math.max(most, running);
  }
  return most;
}

describe('queue limits across two worker processes', { timeout: 120_000 }, () => {
  it('holds a global concurrency: never more running than the limit, held-back jobs only wait', async () => {
    const set = await putLimits('default', { concurrency: 2 });
    expect(set.status, await set.clone().text()).toBe(200);
    expect(((await set.json()) as { limits: unknown }).limits).toEqual({ concurrency: 2, rateLimit: null });
    const ids = await submit(12, { type: 'sleep', data: { ms: 250 } });
    // While two run, the others wait on the limit, and GET /v1/queues says so.
    const holding = await heldUntil((h) => h.jobs > 0);
    expect(holding?.by).toEqual(['concurrency']);
    expect(holding?.jobs).toBeLessThanOrEqual(10);
    const rows = await runsOf(ids);
    expect(rows).toHaveLength(12);
    // At no moment were more than two of them running (their recorded run intervals).
    expect(mostAtOnce(rows)).toBe(2);
    const list = (await (await fetch(`${api.url}/v1/queues`, { headers: authHeaders() })).json()) as {
      items: { name: string; limits: unknown }[];
    };
    expect(list.items.find((q) => q.name === 'default')?.limits).toEqual({ concurrency: 2, rateLimit: null });
    expect((await putLimits('default', { concurrency: null })).status).toBe(200);
  });

  it('holds a rate limit: at most max jobs started per window across both workers', async () => {
    expect((await putLimits('default', { rateLimit: { max: 4, durationMs: 1_000 } })).status).toBe(200);
    const t0 = Date.now();
    const ids = await submit(12, { type: 'noop' });
    // The first window's four starts are used at once: the rest wait on the rate limit.
    const holding = await heldUntil((h) => h.jobs > 0);
    expect(holding?.by).toEqual(['rateLimit']);
    expect(holding?.jobs).toBeLessThanOrEqual(8);
    const rows = await runsOf(ids);
    expect(rows.every((r) => r.status === 'completed' && r.attempts === 1)).toBe(true);
    expect(await heldUntil((h) => h.jobs === 0)).toEqual({ jobs: 0, by: expect.any(Array) });
    const starts = rows.map((r) => new Date(r.started_at).getTime()).sort((a, b) => a - b);
    // Twelve jobs at four a second take at least two more windows after the first.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2_000);
    expect((starts.at(-1) ?? 0) - (starts[0] ?? 0)).toBeGreaterThanOrEqual(1_900);
    expect((await putLimits('default', { rateLimit: null })).status).toBe(200);
  });

  it("applies what a job type declares on every worker; an operator's limits win until cleared", async () => {
    // Two workers of a team's own project, whose type declares { concurrency: 3 } for its queue.
    for (let i = 0; i < 2; i++) {
      started.push(await startWorker(services, { WORKER_CONCURRENCY: '8' }, 'partner-worker'));
    }
    const partner = async () => {
      const list = (await (await fetch(`${api.url}/v1/queues`, { headers: authHeaders() })).json()) as {
        items: { name: string; limits: unknown; limitsSetBy: string | null }[];
      };
      return list.items.find((q) => q.name === 'partner');
    };
    const deadline = Date.now() + 20_000;
    while ((await partner())?.limitsSetBy !== 'declared' && Date.now() < deadline) await sleep(100);
    expect(await partner()).toMatchObject({
      limits: { concurrency: 3, rateLimit: null },
      limitsSetBy: 'declared',
    });
    expect(mostAtOnce(await runsOf(await submit(12, { type: 'test.partner-call', data: { ms: 250 } })))).toBe(
      3,
    );
    // The registry shows what the type declares.
    const types = (await (await fetch(`${api.url}/v1/job-types`, { headers: authHeaders() })).json()) as {
      items: { name: string; queueLimits?: unknown }[];
    };
    expect(types.items.find((t) => t.name === 'test.partner-call')?.queueLimits).toEqual({ concurrency: 3 });

    // An operator's change wins, also over a worker that starts after it and declares again.
    const set = await putLimits('partner', { concurrency: 1 });
    expect(set.status, await set.clone().text()).toBe(200);
    expect(await set.json()).toMatchObject({ limits: { concurrency: 1 }, limitsSetBy: 'operator' });
    // Ready once it registered its types and applied its queue's limits from the record.
    const port = await freePort();
    started.push(await startWorker(services, { WORKER_PORT: String(port) }, 'partner-worker'));
    await waitForOk(`http://127.0.0.1:${port}/health/ready`);
    expect(await partner()).toMatchObject({ limits: { concurrency: 1 }, limitsSetBy: 'operator' });
    expect(mostAtOnce(await runsOf(await submit(4, { type: 'test.partner-call', data: { ms: 150 } })))).toBe(
      1,
    );

    // Cleared: the declaration holds again at once.
    const cleared = await fetch(`${api.url}/v1/queues/partner/limits`, {
      method: 'DELETE',
      headers: authHeaders(),
    });
    expect(cleared.status).toBe(200);
    expect(await cleared.json()).toMatchObject({
      limits: { concurrency: 3, rateLimit: null },
      limitsSetBy: 'declared',
    });
    expect(mostAtOnce(await runsOf(await submit(9, { type: 'test.partner-call', data: { ms: 250 } })))).toBe(
      3,
    );
  });

  it('refuses a limit of 0, absurd values and unknown fields with 400 naming the field', async () => {
    for (const [body, field] of [
      [{ concurrency: 0 }, 'concurrency'],
      [{ rateLimit: { max: 5, durationMs: 10 } }, 'rateLimit.durationMs'],
      [{ rateLimit: { max: 0, durationMs: 1_000 } }, 'rateLimit.max'],
      [{ concurrency: 1.5 }, 'concurrency'],
      [{ burst: 3 }, 'burst'],
    ] as const) {
      const response = await putLimits('default', body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      const problem = (await response.json()) as { errors: { path: string }[] };
      expect(problem.errors.map((e) => e.path)).toContain(field);
    }
    expect((await putLimits('nope', { concurrency: 1 })).status).toBe(404);
    const clearUnknown = await fetch(`${api.url}/v1/queues/nope/limits`, {
      method: 'DELETE',
      headers: authHeaders(),
    });
    expect(clearUnknown.status).toBe(404);
    expect(clearUnknown.headers.get('content-type')).toContain('application/problem+json');
  });
});
