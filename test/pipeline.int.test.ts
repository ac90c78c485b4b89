import { randomUUID } from 'node:crypto';
import { jobs, upsertTerminalRows } from '@conveyor/core/db';
import { eventChannels, type StatusEvent } from '@conveyor/core/events';
import { queueJobId } from '@conveyor/core/jobs';
import { useTestServices } from '@conveyor/dev/testing';
import { eq } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipeline, type Pipeline, postJson, waitForStatus } from './harness.js';

const services = useTestServices();
let p: Pipeline;
const get = (path: string) => p.request(path);

beforeAll(async () => {
  p = await createPipeline(services);
  p.startWorker();
});
afterAll(async () => {
  await p.close();
});

async function submit(body: unknown) {
  const response = await postJson(p, '/v1/jobs', body);
  expect(response.status).toBe(202);
  return (await response.json()) as { id: string; status: string; links: { self: string } };
}

async function rowOf(id: string) {
  return p.database.db.query.jobs.findFirst({ where: eq(jobs.id, id) });
}

describe('queues', () => {
  it("keep BullMQ's own events stream short on every queue, whichever process started last", async () => {
    // The worker started after the API and opened its own producers (the internal queues).
    await p.worker?.ready();
    for (const queue of ['default', 'callbacks', 'schedules']) {
      const maxLen = await p.producer.hget(`${services.prefix}:${queue}:meta`, 'opts.maxLenEvents');
      expect(maxLen, queue).toBe('1000');
    }
  });
});

describe('first terminal result wins', () => {
  it('reports the recorded outcome, not a later run’s: events, BullMQ and the row agree', async () => {
    const job = await submit({ type: 'sleep', data: { ms: 600 } });
    const events: StatusEvent[] = [];
    const subscriber = new Redis(services.redisUrl);
    try {
      subscriber.on('message', (_channel: string, message: string) => events.push(JSON.parse(message)));
      await subscriber.subscribe(eventChannels(services.prefix).job('default', job.id));
      await waitForStatus(get, job.id, ['active']);
      // Another writer records the job first (as a cancel racing the end would), without
      // the cancel broadcast: the handler runs on and completes.
      const now = new Date();
      const error = { code: 'CANCELLED' as const, message: 'cancelled', retryable: false };
      await upsertTerminalRows(p.database.db, [
        {
          id: job.id,
          type: 'sleep',
          queue: 'default',
          status: 'cancelled',
          error,
          attempts: 1,
          maxAttempts: 1,
          createdAt: now,
          finishedAt: now,
        },
      ]);
      const bullJob = await p.queues.get('default').getJob(queueJobId('default', job.id));
      await expect.poll(async () => bullJob?.getState(), { timeout: 5_000 }).toBe('failed');
      const statuses = events.map((e) => e.status);
      expect(statuses.at(-1)).toBe('cancelled');
      expect(statuses).not.toContain('completed');
      expect(await rowOf(job.id)).toMatchObject({ status: 'cancelled', result: null });
    } finally {
      subscriber.disconnect();
    }
  });
});

describe('submit → worker → Postgres', () => {
  it('runs a job to a completed row and shows it on GET', async () => {
    const job = await submit({ type: 'echo', data: { hello: 'world' }, metadata: { source: 'test' } });
    expect(job.status).toBe('queued');
    expect(job.links.self).toBe(`/v1/jobs/${job.id}`);

    const view = await waitForStatus(get, job.id, ['completed']);
    expect(view).toMatchObject({ type: 'echo', queue: 'default', result: { hello: 'world' }, attempts: 1 });
    const row = await rowOf(job.id);
    expect(row).toMatchObject({
      status: 'completed',
      result: { hello: 'world' },
      metadata: { source: 'test' },
      runs: 1,
    });
    expect(row?.finishedAt.getTime()).toBeGreaterThanOrEqual(
      row?.createdAt.getTime() ?? Number.POSITIVE_INFINITY,
    );
  });

  it('retries a failing handler `attempts` times, then records it failed with every error', async () => {
    const job = await submit({ type: 'test.fail', data: { message: 'kaput' } });
    const view = await waitForStatus(get, job.id, ['failed']);
    expect(view.attempts).toBe(3);
    expect(view.error).toMatchObject({ code: 'HANDLER_FAILED', message: 'kaput', attempt: 3 });
    const row = await rowOf(job.id);
    expect(row?.attemptErrors.map((e) => e.attempt)).toEqual([1, 2, 3]);
  });

  it('completes a flaky job on the attempt after its failures and keeps their errors', async () => {
    const job = await submit({ type: 'test.flaky', data: { failures: 2 } });
    const view = await waitForStatus(get, job.id, ['completed', 'failed']);
    expect(view).toMatchObject({ status: 'completed', result: { attempt: 3 }, attempts: 3 });
    expect((await rowOf(job.id))?.attemptErrors).toHaveLength(2);
  });

  it('fails an unrecoverable error at once', async () => {
    const job = await submit({ type: 'test.fail', data: { unrecoverable: true } });
    const view = await waitForStatus(get, job.id, ['failed']);
    expect(view.attempts).toBe(1);
  });

  it('fails a handler that runs past its timeout with code TIMEOUT, even if it ignores the signal', async () => {
    const job = await submit({ type: 'test.hang', timeoutMs: 150 });
    const view = await waitForStatus(get, job.id, ['failed']);
    expect(view.error).toMatchObject({ code: 'TIMEOUT' });
    expect(view.error?.message).toContain('150 ms');
  });

  it('honours a per-submit attempts override', async () => {
    const job = await submit({ type: 'test.fail', data: {}, attempts: 1 });
    expect((await waitForStatus(get, job.id, ['failed'])).attempts).toBe(1);
  });

  it('returns the original job for a repeated id and runs it once; a different body is 409', async () => {
    const id = randomUUID();
    await submit({ type: 'echo', data: 1, id });
    await waitForStatus(get, id, ['completed']);
    const again = await postJson(p, '/v1/jobs', { id, data: 1, type: 'echo' });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ id, status: 'completed' });
    const different = await postJson(p, '/v1/jobs', { type: 'echo', data: 2, id });
    expect(different.status).toBe(409);
    expect(await different.json()).toMatchObject({ code: 'CONFLICT' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await rowOf(id)).toMatchObject({ result: 1, runs: 1 });
  });

  it('reports a queued job as queued before any worker takes it, and its id again with 200', async () => {
    const job = await submit({ type: 'noop', delayMs: 60_000 });
    const response = await get(`/v1/jobs/${job.id}`);
    expect(await response.json()).toMatchObject({ id: job.id, status: 'queued', attempts: 0 });
    const again = await postJson(p, '/v1/jobs', { type: 'noop', id: job.id });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ id: job.id, status: 'queued' });
  });
});

describe('bad requests', () => {
  async function problem(response: Response, status: number, code: string) {
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status, code });
    expect(typeof body.requestId).toBe('string');
    return body;
  }

  it('rejects an unknown type with 400 and lists the known types', async () => {
    const body = await problem(await postJson(p, '/v1/jobs', { type: 'nope' }), 400, 'UNKNOWN_JOB_TYPE');
    expect(body.knownTypes).toEqual(expect.arrayContaining(['echo', 'noop', 'sleep', 'http.request']));
    expect(body.detail).toContain('echo');
  });

  it('rejects data that does not match the type schema and names the field', async () => {
    const body = await problem(
      await postJson(p, '/v1/jobs', { type: 'sleep', data: { ms: 'x' } }),
      400,
      'VALIDATION_FAILED',
    );
    expect(body.errors).toEqual([expect.objectContaining({ path: 'data.ms' })]);
  });

  it('rejects attempts above the type limit', async () => {
    await problem(await postJson(p, '/v1/jobs', { type: 'noop', attempts: 999 }), 400, 'VALIDATION_FAILED');
  });

  it('answers malformed JSON with 400, a wrong content type with 415, a big body with 413', async () => {
    await problem(await postJson(p, '/v1/jobs', '{"type":'), 400, 'MALFORMED_JSON');
    await problem(
      await p.request('/v1/jobs', {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: '{}',
      }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    await problem(
      await postJson(p, '/v1/jobs', { type: 'echo', data: 'x'.repeat(70 * 1024) }),
      413,
      'PAYLOAD_TOO_LARGE',
    );
  });

  it('answers 404 problem+json for an unknown job and an unknown route, 400 for a bad id', async () => {
    await problem(await get(`/v1/jobs/${randomUUID()}`), 404, 'JOB_NOT_FOUND');
    await problem(await get('/v1/nothing-here'), 404, 'NOT_FOUND');
    await problem(await get('/v1/jobs/..%2F..%2Fetc'), 400, 'VALIDATION_FAILED');
  });

  it('enqueues nothing for a rejected request', async () => {
    const before = await p.queues.get('default').count();
    await postJson(p, '/v1/jobs', { type: 'sleep', data: { ms: -1 } });
    await postJson(p, '/v1/jobs', { type: 'noop', colour: 'blue' });
    expect(await p.queues.get('default').count()).toBe(before);
  });
});

describe('job types and health', () => {
  it('lists every type with its input JSON Schema', async () => {
    const body = (await (await get('/v1/job-types')).json()) as {
      items: { name: string; inputSchema: unknown }[];
    };
    const sleep = body.items.find((t) => t.name === 'sleep');
    expect(sleep?.inputSchema).toMatchObject({ type: 'object', properties: { ms: { type: 'integer' } } });
  });

  it('is ready when Redis and Postgres answer', async () => {
    const response = await get('/health/ready');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok', checks: { redis: 'ok', postgres: 'ok' } });
  });
});
