import { randomUUID } from 'node:crypto';
import { parseSse } from '@conveyor/client';
import { jobs } from '@conveyor/core/db';
import { type JobView, queueJobId } from '@conveyor/core/jobs';
import { useTestServices } from '@conveyor/dev/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPipeline,
  type Pipeline,
  postJson,
  type Requester,
  removeFinishedJob,
  waitForStatus,
  withKey,
} from './harness.js';

// Issue 14, findings 2 and 3: a job id (and an Idempotency-Key) belongs to its tenant.

const services = useTestServices();
let p: Pipeline;
let a: Requester;
let b: Requester;

beforeAll(async () => {
  p = await createPipeline(services);
  p.startWorker();
  const tenantKey = async (tenant: string) =>
    (await p.keys.create({ tenant, name: 'admin', scopes: ['admin'] })).key;
  const [keyA, keyB] = await Promise.all([tenantKey('tenant-a'), tenantKey('tenant-b')]);
  a = { request: (path, init) => p.app.request(path, withKey(keyA, init)) };
  b = { request: (path, init) => p.app.request(path, withKey(keyB, init)) };
});
afterAll(() => p.close());

const get = (who: Requester) => (path: string) => who.request(path);

async function submit(who: Requester, body: unknown, headers: Record<string, string> = {}) {
  const response = await postJson(who, '/v1/jobs', body, headers);
  return { status: response.status, body: (await response.json()) as { id: string; status: string } };
}

const leaveRedis = (tenant: string, id: string) =>
  removeFinishedJob(p.queues.get('default'), queueJobId(tenant, id));

describe('job ids belong to their tenant', () => {
  it("gives another tenant reusing a finished job's id a job of its own, never the first one's result", async () => {
    const id = randomUUID();
    expect((await submit(a, { id, type: 'echo', data: { secret: 'of tenant a' } })).status).toBe(202);
    const first = await waitForStatus(get(a), id, ['completed']);
    expect(first.result).toEqual({ secret: 'of tenant a' });
    await leaveRedis('tenant-a', id);

    // B's firehose is open before B submits the same id.
    const controller = new AbortController();
    const firehose = await b.request('/v1/events?status=completed', { signal: controller.signal });
    const events: Record<string, unknown>[] = [];
    const reading = (async () => {
      if (!firehose.body) return;
      for await (const message of parseSse(firehose.body, controller.signal)) {
        const event = JSON.parse(message.data) as Record<string, unknown>;
        if (event.jobId === id) {
          events.push(event);
          return;
        }
      }
    })().catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 100));

    const reused = await submit(b, { id, type: 'echo', data: { mine: 'tenant b' } });
    expect(reused).toMatchObject({ status: 202, body: { id, status: 'queued' } });
    const second = await waitForStatus(get(b), id, ['completed']);
    expect(second.result).toEqual({ mine: 'tenant b' });
    expect(second.data).toEqual({ mine: 'tenant b' });

    await Promise.race([reading, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    controller.abort();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ jobId: id, tenant: 'tenant-b', result: { mine: 'tenant b' } });
    expect(JSON.stringify(events)).not.toContain('of tenant a');

    // Two rows, one per tenant, each with its own input and result.
    const rows = await p.database.db.select().from(jobs).where(eq(jobs.id, id));
    expect(rows.map((r) => [r.tenant, r.result]).sort()).toEqual([
      ['tenant-a', { secret: 'of tenant a' }],
      ['tenant-b', { mine: 'tenant b' }],
    ]);
    // A still reads its own job.
    expect(((await (await a.request(`/v1/jobs/${id}`)).json()) as JobView).result).toEqual({
      secret: 'of tenant a',
    });
  });

  it("cannot be pre-empted: a tenant's job runs although another tenant's job of the same id is in flight", async () => {
    const id = randomUUID();
    expect((await submit(b, { id, type: 'sleep', data: { ms: 1_500 } })).status).toBe(202);
    await waitForStatus(get(b), id, ['active']);
    const mine = await submit(a, { id, type: 'echo', data: 'tenant a' });
    expect(mine).toMatchObject({ status: 202, body: { id } });
    const done = await waitForStatus(get(a), id, ['completed']);
    expect(done.result).toBe('tenant a');
    // B's job is untouched by A's and ends on its own.
    const other = await waitForStatus(get(b), id, ['completed']);
    expect(other.result).toMatchObject({ sleptMs: expect.any(Number) });
  });

  it("cannot cancel, retry or read another tenant's job through its id", async () => {
    const id = randomUUID();
    expect((await submit(a, { id, type: 'sleep', data: { ms: 5_000 } })).status).toBe(202);
    await waitForStatus(get(a), id, ['active']);
    expect((await b.request(`/v1/jobs/${id}`)).status).toBe(404);
    expect((await b.request(`/v1/jobs/${id}/events`)).status).toBe(404);
    expect((await b.request(`/v1/jobs/${id}/cancel`, { method: 'POST' })).status).toBe(404);
    expect((await b.request(`/v1/jobs/${id}/retry`, { method: 'POST' })).status).toBe(404);
    expect(((await (await a.request(`/v1/jobs/${id}`)).json()) as JobView).status).toBe('active');
    expect((await a.request(`/v1/jobs/${id}/cancel`, { method: 'POST' })).status).toBe(200);
  });

  it('gives the same Idempotency-Key in two tenants two jobs, and the same body again the original', async () => {
    const key = `order-${randomUUID()}`;
    const first = await submit(a, { type: 'echo', data: 'a' }, { 'idempotency-key': key });
    const other = await submit(b, { type: 'echo', data: 'b' }, { 'idempotency-key': key });
    expect(first.status).toBe(202);
    expect(other.status).toBe(202);
    expect(other.body.id).not.toBe(first.body.id);
    expect((await waitForStatus(get(b), other.body.id, ['completed'])).result).toBe('b');
    expect((await waitForStatus(get(a), first.body.id, ['completed'])).result).toBe('a');
    const again = await submit(a, { type: 'echo', data: 'a' }, { 'idempotency-key': key });
    expect(again).toMatchObject({ status: 200, body: { id: first.body.id } });
  });

  it('enqueues a batch item whose id another tenant already used, instead of reporting it a duplicate', async () => {
    const id = randomUUID();
    expect((await submit(a, { id, type: 'echo', data: 'a' })).status).toBe(202);
    await waitForStatus(get(a), id, ['completed']);
    const response = await postJson(b, '/v1/jobs/batch', { jobs: [{ id, type: 'echo', data: 'b' }] });
    expect(response.status).toBe(202);
    expect(await response.json()).toMatchObject({ items: [{ id, outcome: 'enqueued' }] });
    expect((await waitForStatus(get(b), id, ['completed'])).result).toBe('b');
    // A repeat in A's own tenant is still a duplicate.
    const repeat = await postJson(a, '/v1/jobs/batch', { jobs: [{ id, type: 'echo', data: 'a' }] });
    expect(await repeat.json()).toMatchObject({ items: [{ id, outcome: 'duplicate' }] });
  });
});
