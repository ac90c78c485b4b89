import { readJobTypes } from '@conveyor/core/db';
import { createJobRegistry, defineJob, toRegistration } from '@conveyor/core/jobs';
import { createLogger } from '@conveyor/core/log';
import { useTestServices } from '@conveyor/dev/testing';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTypeRegistrar } from '../apps/worker/src/index.js';
import { createPipeline, type Pipeline } from './harness.js';

// Issue 15 (first slice): workers register the job types they serve in Postgres.

const services = useTestServices();
let p: Pipeline;
const logger = createLogger({ name: 'test', level: 'silent' });

interface ListedType {
  name: string;
  queue: string;
  version: string;
  lastSeenAt: string | null;
  versions: { version: string; registeredAt: string; lastSeenAt: string }[];
}

async function listed(): Promise<ListedType[]> {
  const response = await p.request('/v1/job-types');
  expect(response.status).toBe(200);
  return ((await response.json()) as { items: ListedType[] }).items;
}

beforeAll(async () => {
  p = await createPipeline(services);
});
afterAll(() => p.close());

describe('the job type registry', () => {
  it('shows no worker for any type before one starts, then the types of the queues a worker serves', async () => {
    expect((await listed()).every((t) => t.lastSeenAt === null && t.versions.length === 0)).toBe(true);
    const worker = p.startWorker({ queues: ['default'] });
    await worker.ready();
    const types = await listed();
    const served = types.filter((t) => t.queue === 'default');
    expect(served.length).toBeGreaterThan(2);
    for (const t of served) {
      expect(t.versions, t.name).toEqual([
        { version: t.version, registeredAt: expect.any(String), lastSeenAt: expect.any(String) },
      ]);
      expect(Date.now() - Date.parse(t.lastSeenAt ?? '')).toBeLessThan(10_000);
    }
    // http.request lives on the `http` queue, which this worker does not serve.
    expect(types.find((t) => t.name === 'http.request')).toMatchObject({ queue: 'http', lastSeenAt: null });
    await p.stopWorkers();
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

  it('lists two releases of one type side by side, the newer first, and a changed definition is a new version', async () => {
    const sleep = createJobRegistry().get('sleep');
    if (!sleep) throw new Error('sleep is a built-in type');
    const current = toRegistration(sleep);
    const next = toRegistration({ ...sleep, description: 'Waits, in the next release.' });
    expect(next.version).not.toBe(current.version);
    expect(toRegistration({ ...sleep }).version).toBe(current.version);
    for (const registrations of [[current], [next]]) {
      const registrar = startTypeRegistrar({ database: p.database, registrations, logger });
      await registrar.registered;
      registrar.close();
      // Registered in two different milliseconds: the newer one sorts first.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const listedSleep = (await listed()).find((t) => t.name === 'sleep');
    expect(listedSleep?.version).toBe(current.version);
    expect(listedSleep?.versions.map((x) => x.version)).toEqual([next.version, current.version]);
  });
});
