import { queueJobId } from '@conveyor/core/jobs';
import { useTestServices } from '@conveyor/dev/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipeline, type Pipeline, postJson, withKey } from './harness.js';

/** POST /v1/jobs/retry and /cancel: retry or cancel by filter, not one request a job. */
const services = useTestServices();
let p: Pipeline;

interface BulkAnswer {
  matched: number;
  retried: number;
  skipped: { id: string; reason: string }[];
  nextCursor: string | null;
  dryRun: boolean;
}

/** `count` failed terminal rows of `tenant`, as workers leave them. */
async function failedRows(tenant: string, type: string, count: number, extra = ''): Promise<string[]> {
  const rows = await p.database.sql<{ id: string }[]>`
    insert into jobs (id, tenant, type, queue, status, error, attempts, max_attempts, attempt_limit,
                      timeout_ms, metadata, created_at, started_at, finished_at)
    select gen_random_uuid(), ${tenant}, ${type}, 'default', 'failed',
           '{"code":"UNAVAILABLE","message":"partner API down","retryable":true}'::jsonb, 1, 1, 1, 1000,
           jsonb_build_object('batch', ${extra}::text),
           now() - (i || ' milliseconds')::interval, now() - (i || ' milliseconds')::interval, now()
    from generate_series(1, ${count}::int) as i
    returning id`;
  return rows.map((r) => r.id);
}

const retry = async (body: unknown, key?: string) => {
  const init = {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  };
  const response = key
    ? await p.app.request('/v1/jobs/retry', withKey(key, init))
    : await postJson(p, '/v1/jobs/retry', body);
  return {
    status: response.status,
    body: (await response.json()) as BulkAnswer & { errors?: { path: string }[] },
  };
};

beforeAll(async () => {
  p = await createPipeline(services);
});
afterAll(() => p?.close());

describe('POST /v1/jobs/retry', () => {
  it('retries 10,000 failed jobs by filter, 1,000 a request, inside the tenant', async () => {
    const mine = await failedRows('default', 'noop', 10_000, 'outage');
    const otherType = await failedRows('default', 'echo', 20, 'outage');
    const otherTenant = await failedRows('other', 'noop', 20, 'outage');

    const dry = await retry({ type: 'noop', metadata: { batch: 'outage' }, dryRun: true });
    expect(dry.status).toBe(200);
    expect(dry.body).toMatchObject({ matched: 10_000, retried: 0, dryRun: true, nextCursor: null });

    let cursor: string | null = null;
    let retried = 0;
    let requests = 0;
    do {
      const answer = await retry({
        type: 'noop',
        metadata: { batch: 'outage' },
        ...(cursor ? { cursor } : {}),
      });
      expect(answer.status, JSON.stringify(answer.body).slice(0, 300)).toBe(200);
      expect(answer.body.matched).toBeLessThanOrEqual(1_000);
      expect(answer.body.skipped).toEqual([]);
      retried += answer.body.retried;
      cursor = answer.body.nextCursor;
      requests++;
    } while (cursor !== null && requests < 20);
    expect(retried).toBe(10_000);
    expect(requests).toBe(10);

    // Each is queued again under its id (no worker runs here), as its next generation.
    const queue = p.queues.get('default');
    const sample = [mine[0], mine[4_999], mine[9_999]] as string[];
    for (const id of sample) {
      const job = await queue.getJob(queueJobId('default', id));
      expect(job?.data.generation, id).toBe(1);
    }
    // Nothing outside the filter or the tenant was touched.
    for (const id of [...otherType.slice(0, 5), ...otherTenant.slice(0, 5)]) {
      expect(await queue.getJob(queueJobId('default', id))).toBeUndefined();
      expect(await queue.getJob(queueJobId('other', id))).toBeUndefined();
    }
    // Sent again, the same filter finds them in flight: each is skipped, with why.
    const again = await retry({ type: 'noop', metadata: { batch: 'outage' } });
    expect(again.body.retried).toBe(0);
    expect(again.body.skipped[0]?.reason).toContain('still in flight');
  }, 120_000);

  it("retries another tenant's jobs only with that tenant's key", async () => {
    const { key } = await p.keys.create({
      tenant: 'third',
      name: 'third',
      scopes: ['jobs:write', 'jobs:read'],
    });
    const theirs = await failedRows('third', 'noop', 3, 'x');
    const answer = await retry({ status: ['failed'] }, key);
    expect(answer.body).toMatchObject({ matched: 3, retried: 3 });
    for (const id of theirs)
      expect(await p.queues.get('default').getJob(queueJobId('third', id))).toBeDefined();
  });

  it('refuses an unknown filter, a status that cannot be retried and bad values with 400 naming the field', async () => {
    for (const [body, field] of [
      [{ label: 'x' }, 'label'],
      [{ status: ['completed'] }, 'status.0'],
      [{ status: [] }, 'status'],
      [{ createdAfter: 'yesterday' }, 'createdAfter'],
      [{ metadata: { a: { nested: true } } }, 'metadata.a'],
      [{ tag: ['no spaces'] }, 'tag.0'],
    ] as const) {
      const answer = await retry(body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(
        answer.body.errors?.map((e) => e.path),
        JSON.stringify(body),
      ).toContain(field);
    }
  });
});

describe('POST /v1/jobs/cancel', () => {
  const cancel = async (body: unknown) => {
    const response = await postJson(p, '/v1/jobs/cancel', body);
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it("cancels the tenant's queued jobs a filter matches, together, and nothing else", async () => {
    const submit = async (body: unknown) =>
      ((await (await postJson(p, '/v1/jobs', body)).json()) as { id: string }).id;
    const doomed: string[] = [];
    for (let i = 0; i < 30; i++)
      doomed.push(await submit({ type: 'noop', delayMs: 600_000, tags: ['doomed'] }));
    const kept = await submit({ type: 'noop', delayMs: 600_000, tags: ['kept'] });
    const { key } = await p.keys.create({
      tenant: 'fourth',
      name: 'fourth',
      scopes: ['jobs:write', 'jobs:read'],
    });
    const theirs = await p.app.request(
      '/v1/jobs',
      withKey(key, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'noop', delayMs: 600_000, tags: ['doomed'] }),
      }),
    );
    const theirId = ((await theirs.json()) as { id: string }).id;

    expect((await cancel({ tag: ['doomed'], dryRun: true })).body).toMatchObject({
      matched: 30,
      dryRun: true,
    });
    const done = await cancel({ tag: ['doomed'] });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ matched: 30, cancelled: 30, more: false });
    const rows = await p.database.sql<{ status: string }[]>`
      select status from jobs where tenant = 'default' and id = any(${doomed})`;
    expect(rows.map((r) => r.status)).toEqual(Array(30).fill('cancelled'));
    expect(((await (await p.request(`/v1/jobs/${kept}`)).json()) as { status: string }).status).toBe(
      'queued',
    );
    const their = await p.app.request(`/v1/jobs/${theirId}`, withKey(key));
    expect(((await their.json()) as { status: string }).status).toBe('queued');
    expect((await cancel({ tag: ['doomed'] })).body).toMatchObject({ matched: 0, cancelled: 0, more: false });
  });

  it('refuses a finished status, a cursor and unknown filters with 400 naming the field', async () => {
    for (const [body, field] of [
      [{ status: ['failed'] }, 'status.0'],
      [{ cursor: 'x' }, 'cursor'],
      [{ color: 'red' }, 'color'],
    ] as const) {
      const answer = await cancel(body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect((answer.body.errors as { path: string }[]).map((e) => e.path)).toContain(field);
    }
  });
});
