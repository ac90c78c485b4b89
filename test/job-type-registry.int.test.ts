import { jobs, readJobTypes, registerJobTypes } from '@conveyor/core/db';
import { eventChannels, type StatusEvent } from '@conveyor/core/events';
import { createJobRegistry, defineJob, type JobView, toRegistration } from '@conveyor/core/jobs';
import { createLogger } from '@conveyor/core/log';
import { createRedis, redisReady } from '@conveyor/core/redis';
import { useTestServices } from '@conveyor/dev/testing';
import { testingJobs } from '@conveyor/dev/testing-jobs';
import { defineJob as defineSdkJob, NonRetryableError } from '@conveyor/sdk';
import { eq } from 'drizzle-orm';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinJobs, runWorker, sleep, startTypeRegistrar } from '../apps/worker/src/index.js';
import { createPipeline, type Pipeline, postJson, waitForStatus } from './harness.js';

// Issue 15: workers register the job types they serve; the API accepts exactly those.

const services = useTestServices();
let p: Pipeline;
const logger = createLogger({ name: 'test', level: 'silent' });
const get = (path: string) => p.request(path);

interface ListedType {
  name: string;
  queue: string;
  version: string;
  lastSeenAt: string;
  inputSchema: Record<string, unknown>;
  versions: { version: string; registeredAt: string; lastSeenAt: string }[];
}

async function listed(): Promise<ListedType[]> {
  const response = await p.request('/v1/job-types');
  expect(response.status).toBe(200);
  return ((await response.json()) as { items: ListedType[] }).items;
}

/** A team's own type, as its project defines it with @conveyor/sdk: nothing of it is in Conveyor. */
const resize = defineSdkJob({
  name: 'acme.resize',
  description: 'Resizes an image to a width.',
  queue: 'images',
  attempts: 3,
  input: v.strictObject({
    url: v.pipe(v.string(), v.url()),
    width: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(8_192)),
  }),
  run: async ({ url, width }) => {
    if (url.endsWith('/gone.png')) throw new NonRetryableError(`no image at ${url}`);
    return { resized: `${url}?w=${width}` };
  },
});

beforeAll(async () => {
  p = await createPipeline(services);
});
afterAll(() => p.close());

describe('the job type registry', () => {
  it("accepts a team's own type once its worker registered it: 400 naming the field for bad data, then 202 and its result", async () => {
    const unknown = await postJson(p, '/v1/jobs', {
      type: 'acme.resize',
      data: { url: 'https://x.test/a.png', width: 64 },
    });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ code: 'UNKNOWN_JOB_TYPE' });

    // Its definition's own `run` is the handler: no handler table.
    const worker = p.startWorker({ jobs: [resize], queues: ['images'] });
    await worker.ready();
    // No refresh needed: an unknown name makes the API read the registry again (a name that
    // stayed unknown, as acme.resize just did, only after 250 ms).
    await new Promise((resolve) => setTimeout(resolve, 300));
    const bad = await postJson(p, '/v1/jobs', {
      type: 'acme.resize',
      data: { url: 'https://x.test/a.png', width: 0 },
    });
    expect(bad.status).toBe(400);
    const problem = (await bad.json()) as { code: string; errors: { path: string }[] };
    expect(problem.code).toBe('VALIDATION_FAILED');
    expect(problem.errors.map((e) => e.path)).toEqual(['data.width']);
    const extra = await postJson(p, '/v1/jobs', {
      type: 'acme.resize',
      data: { url: 'https://x.test/a.png', width: 9, colour: 'red' },
    });
    expect(((await extra.json()) as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual([
      'data.colour',
    ]);

    const good = await postJson(p, '/v1/jobs', {
      type: 'acme.resize',
      data: { url: 'https://x.test/a.png', width: 64 },
    });
    expect(good.status).toBe(202);
    const { id } = (await good.json()) as { id: string };
    const done = (await waitForStatus(get, id, ['completed', 'failed'])) as JobView;
    expect(done).toMatchObject({
      status: 'completed',
      queue: 'images',
      result: { resized: 'https://x.test/a.png?w=64' },
    });

    // NonRetryableError fails the job at once, without its other two attempts.
    const gone = await postJson(p, '/v1/jobs', {
      type: 'acme.resize',
      data: { url: 'https://x.test/gone.png', width: 1 },
    });
    const goneId = ((await gone.json()) as { id: string }).id;
    expect(await waitForStatus(get, goneId, ['completed', 'failed'])).toMatchObject({
      status: 'failed',
      attempts: 1,
      error: { message: 'no image at https://x.test/gone.png', retryable: false },
    });

    const type = (await listed()).find((t) => t.name === 'acme.resize');
    expect(type).toMatchObject({ queue: 'images', version: toRegistration(resize).version });
    expect(type?.inputSchema).toMatchObject({ properties: { width: { type: 'integer', minimum: 1 } } });
    expect((await p.request('/v1/queues')).status).toBe(200);
    const doc = (await (await p.request('/openapi.json')).json()) as {
      components: { schemas: Record<string, unknown> };
    };
    expect(doc.components.schemas['JobInput.acme.resize']).toMatchObject({
      properties: { width: { type: 'integer' } },
    });
    await p.stopWorkers();
  });

  it('accepts a type the moment its worker registered it, however recently the API read the registry', async () => {
    const fresh = toRegistration(
      defineJob({ name: 'acme.fresh', description: 'f', queue: 'fresh', input: v.null() }),
    );
    await p.registry.refresh();
    const registrar = startTypeRegistrar({ database: p.database, registrations: [fresh], logger });
    await registrar.registered;
    registrar.close();
    const response = await postJson(p, '/v1/jobs', { type: 'acme.fresh', data: null });
    expect(response.status, await response.clone().text()).toBe(202);
  });

  it('exports the depth of a queue that a type registered after the API started brought', async () => {
    const late = toRegistration(
      defineJob({ name: 'acme.late', description: 'l', queue: 'latecomer', input: v.null() }),
    );
    const registrar = startTypeRegistrar({ database: p.database, registrations: [late], logger });
    await registrar.registered;
    registrar.close();
    await p.registry.refresh();
    const metrics = await (await p.app.request('/metrics')).text();
    expect(metrics).toContain('conveyor_queue_depth{queue="latecomer",state="waiting"}');
  });

  it('keeps saying a type is served on every heartbeat', async () => {
    const registrations = [toRegistration(defineJob({ name: 'beat', description: 'b', input: v.null() }))];
    const registrar = startTypeRegistrar({ database: p.database, registrations, logger, heartbeatMs: 100 });
    try {
      await registrar.registered;
      const seen = async () =>
        (await readJobTypes(p.database.db)).find((r) => r.name === 'beat')?.lastSeenAt.getTime() ?? 0;
      const first = await seen();
      await expect.poll(seen, { timeout: 3_000 }).toBeGreaterThan(first);
    } finally {
      registrar.close();
    }
  });

  it('lists two releases of one type side by side and validates with the newer one while its workers are live', async () => {
    const current = toRegistration(sleep);
    const next = toRegistration({
      ...sleep,
      description: 'Waits, in the next release (at most 1 s).',
      input: v.strictObject({ ms: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1_000)) }),
    });
    expect(next.version).not.toBe(current.version);
    expect(toRegistration({ ...sleep }).version).toBe(current.version);
    const registrar = startTypeRegistrar({ database: p.database, registrations: [next], logger });
    await registrar.registered;
    registrar.close();
    await p.registry.refresh();
    const listedSleep = (await listed()).find((t) => t.name === 'sleep');
    expect(listedSleep?.version).toBe(next.version);
    expect(listedSleep?.versions.map((x) => x.version)).toEqual([next.version, current.version]);
    // The applied schema is the new release's: 5 s is too long for it.
    const response = await postJson(p, '/v1/jobs', { type: 'sleep', data: { ms: 5_000 } });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual([
      'data.ms',
    ]);
  });

  it('refuses two definitions of one name in one worker at start, naming the type', () => {
    const twice = defineJob({ name: 'echo', description: 'another echo', input: v.unknown() });
    expect(() => createJobRegistry([...builtinJobs(), twice])).toThrow(/"echo" is defined twice/);
  });

  it('refuses at start an input schema with parts JSON Schema cannot express, naming the type and each field', () => {
    const when = defineSdkJob({
      name: 'acme.when',
      description: 'Has fields JSON cannot carry.',
      input: v.strictObject({
        at: v.date(),
        list: v.array(v.object({ big: v.optional(v.bigint()) })),
        byId: v.record(v.string(), v.map(v.string(), v.number())),
        // A check JSON Schema cannot state is no gap: the worker's valibot parse applies it.
        even: v.pipe(
          v.number(),
          v.check((n) => n % 2 === 0, 'even'),
        ),
      }),
      run: async () => null,
    });
    let error: unknown;
    try {
      createJobRegistry([when]);
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ code: 'CONFIG_INVALID' });
    const { message, issues } = error as { message: string; issues: { path: string }[] };
    expect(message).toMatch(/^job type "acme\.when": its input has no JSON Schema form/);
    expect(message).toContain('data.at: The "date" schema cannot be converted to JSON Schema.');
    expect(issues.map((i) => i.path)).toEqual(['data.at', 'data.list[].big', 'data.byId.*']);
    // Every type Conveyor itself ships converts.
    expect(() => createJobRegistry([...builtinJobs(), ...testingJobs])).not.toThrow();
  });

  it('refuses it in runWorker before connecting to anything', async () => {
    const when = defineSdkJob({
      name: 'acme.bigint',
      description: 'b',
      input: v.bigint(),
      run: async () => 1,
    });
    await expect(
      runWorker({
        jobs: [when],
        env: { REDIS_URL: 'redis://127.0.0.1:1', DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' },
        handleSignals: false,
      }),
    ).rejects.toThrow(
      /job type "acme\.bigint": its input has no JSON Schema form, .*\(data: The "bigint" schema/,
    );
  });

  describe('a job that reaches a worker without its type', () => {
    // Two releases of a team's worker share the queue `reports` during a rolling deploy:
    // the old one serves acme.summary only, the new one acme.detail too.
    const summary = defineSdkJob({
      name: 'acme.summary',
      description: 'A summary report.',
      queue: 'reports',
      input: v.null(),
      run: async () => 'summary',
    });
    const detail = defineSdkJob({
      name: 'acme.detail',
      description: 'A detailed report.',
      queue: 'reports',
      input: v.strictObject({ n: v.number() }),
      run: async ({ n }, ctx) => ({ n, attempt: ctx.attempt }),
    });
    const submitDetail = async (n: number) => {
      const response = await postJson(p, '/v1/jobs', { type: 'acme.detail', data: { n } });
      expect(response.status, await response.clone().text()).toBe(202);
      return ((await response.json()) as { id: string }).id;
    };

    it('is handed back to its queue, no attempt used, until a worker that serves the type runs it', async () => {
      await registerJobTypes(p.database.db, [toRegistration(summary), toRegistration(detail)]);
      // Only the old release runs when the jobs arrive: each of them reaches it first.
      const old = p.startWorker({
        jobs: [summary],
        onlyJobs: true,
        queues: ['reports'],
        unserved: { handBacks: 1_000, firstDelayMs: 100, maxDelayMs: 100 },
      });
      const oldMetrics = p.workerMetrics;
      await old.ready();
      const ids = await Promise.all([1, 2, 3, 4, 5, 6].map(submitDetail));
      const handedBack = async () =>
        (await oldMetrics?.registry.getSingleMetric('conveyor_jobs_handed_back_total')?.get())?.values.find(
          (x) => x.labels.type === 'acme.detail',
        )?.value ?? 0;
      await expect.poll(handedBack, { timeout: 5_000 }).toBeGreaterThanOrEqual(ids.length);
      // Handed back, a job is waiting, not failed.
      const view = async () => (await (await get(`/v1/jobs/${ids[0]}`)).json()) as JobView;
      await expect.poll(async () => (await view()).status).toBe('queued');
      expect(await view()).toMatchObject({ attempts: 0, startedAt: null, error: null });

      const next = p.startWorker({ jobs: [summary, detail], onlyJobs: true, queues: ['reports'] });
      await next.ready();
      for (const [i, id] of ids.entries()) {
        expect(await waitForStatus(get, id, ['completed', 'failed'], 10_000)).toMatchObject({
          status: 'completed',
          // Each ran on its first attempt: a hand-back is not one.
          result: { n: i + 1, attempt: 1 },
          attempts: 1,
        });
      }
      const [row] = await p.database.db
        .select()
        .from(jobs)
        .where(eq(jobs.id, ids[0] as string));
      expect(row).toMatchObject({ status: 'completed', attempts: 1, runs: 1 });
      await p.stopWorkers();
    });

    it('fails JOB_TYPE_NOT_SERVED after its last hand-back when no worker serves the type, with its row and event', async () => {
      await registerJobTypes(p.database.db, [toRegistration(summary), toRegistration(detail)]);
      const old = p.startWorker({
        jobs: [summary],
        onlyJobs: true,
        queues: ['reports'],
        unserved: { handBacks: 3, firstDelayMs: 20, maxDelayMs: 40 },
      });
      await old.ready();
      // The tenant's firehose, subscribed before the submit: the failure is published.
      const subscriber = createRedis(services.redisUrl, 'subscriber');
      await redisReady(subscriber);
      const events: StatusEvent[] = [];
      subscriber.on('message', (_channel: string, message: string) => events.push(JSON.parse(message)));
      await subscriber.subscribe(eventChannels(services.prefix).tenant('default'));
      const id = await submitDetail(7);
      const failed = await waitForStatus(get, id, ['completed', 'failed'], 10_000);
      expect(failed).toMatchObject({
        status: 'failed',
        error: { code: 'JOB_TYPE_NOT_SERVED', retryable: false },
      });
      expect(failed.error?.message).toMatch(
        /serves type acme\.detail \(handed back 3 times; the last one serves acme\.summary\)/,
      );
      expect(failed.error?.message).toContain('queue reports');
      const [row] = await p.database.db.select().from(jobs).where(eq(jobs.id, id));
      expect(row).toMatchObject({ status: 'failed', runs: 0, startedAt: null });
      expect(row?.error).toMatchObject({ code: 'JOB_TYPE_NOT_SERVED' });
      await expect
        .poll(() => events.find((e) => e.jobId === id && e.status === 'failed'))
        .toMatchObject({ type: 'acme.detail', error: { code: 'JOB_TYPE_NOT_SERVED' } });
      subscriber.disconnect();
      await p.stopWorkers();
    });
  });
});
