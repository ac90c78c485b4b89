import { readJobTypes } from '@conveyor/core/db';
import { createJobRegistry, defineJob, type JobView, toRegistration } from '@conveyor/core/jobs';
import { createLogger } from '@conveyor/core/log';
import { useTestServices } from '@conveyor/dev/testing';
import { defineJob as defineSdkJob, NonRetryableError } from '@conveyor/sdk';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinJobs, sleep, startTypeRegistrar } from '../apps/worker/src/index.js';
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
});
