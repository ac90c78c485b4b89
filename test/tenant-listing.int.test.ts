import { tenantInFlightKey } from '@conveyor/core/redis';
import { type RedisServerHandle, startRedisServer } from '@conveyor/dev';
import { useTestServices } from '@conveyor/dev/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipeline, type Pipeline, postJson, type Requester, withKey } from './harness.js';

// Issue 14, finding 9: listing a tenant's jobs costs in proportion to that tenant's jobs.
// A private redis-server, so its command count is this file's alone.

const services = useTestServices();
let redis: RedisServerHandle;
let admin: Redis;
let p: Pipeline;
let quiet: Requester;
let busy: Requester;
const OTHER_TENANT_JOBS = 3_000;

beforeAll(async () => {
  redis = await startRedisServer();
  admin = new Redis(redis.url);
  p = await createPipeline({ ...services, redisUrl: redis.url }, { tenantMaxInFlight: 10_000 });
  const tenantKey = async (tenant: string) =>
    (await p.keys.create({ tenant, name: 'admin', scopes: ['admin'] })).key;
  const [quietKey, busyKey] = await Promise.all([tenantKey('quiet'), tenantKey('busy')]);
  quiet = { request: (path, init) => p.app.request(path, withKey(quietKey, init)) };
  busy = { request: (path, init) => p.app.request(path, withKey(busyKey, init)) };
  // No worker: the busy tenant's jobs stay queued (delayed) in the shared queue.
  for (let i = 0; i < OTHER_TENANT_JOBS; i += 1_000) {
    const jobs = Array.from({ length: 1_000 }, () => ({ type: 'noop', delayMs: 600_000 }));
    expect((await postJson(busy, '/v1/jobs/batch', { jobs })).status).toBe(202);
  }
}, 120_000);
afterAll(async () => {
  await p.close();
  admin.disconnect();
  await redis.stop();
});

/** Redis commands the server processed while `work` ran (the INFO calls included). */
async function commandsDuring(work: () => Promise<unknown>): Promise<number> {
  const processed = async () => Number(/total_commands_processed:(\d+)/.exec(await admin.info('stats'))?.[1]);
  const before = await processed();
  await work();
  return (await processed()) - before - 1;
}

describe('GET /v1/jobs next to another tenant with thousands of jobs in flight', () => {
  it("costs a tenant with nothing in flight a handful of Redis commands, not a scan of the other tenant's jobs", async () => {
    let body: { items: unknown[]; nextCursor: string | null } | undefined;
    const commands = await commandsDuring(async () => {
      const response = await quiet.request('/v1/jobs?status=queued,active&limit=50');
      expect(response.status).toBe(200);
      body = (await response.json()) as typeof body;
    });
    expect(body).toEqual({ items: [], nextCursor: null });
    expect(commands).toBeLessThan(10);
  });

  it("reads a page of the busy tenant's own jobs with a number of commands in proportion to the page", async () => {
    const commands = await commandsDuring(async () => {
      const response = await busy.request('/v1/jobs?status=queued&limit=20');
      const page = (await response.json()) as { items: { status: string }[]; nextCursor: string | null };
      expect(page.items).toHaveLength(20);
      expect(page.items.every((i) => i.status === 'queued')).toBe(true);
      expect(page.nextCursor).not.toBeNull();
    });
    // One read of the set, then per job one HGETALL and BullMQ's state script (Redis counts
    // the calls inside a script too: about five a job), never the 3,000 jobs behind them.
    expect(commands).toBeLessThan(20 * 6 + 10);
  });

  it('counts each in-flight job once, however often its id is submitted', async () => {
    const id = '9f3c1d2e-7a4b-4c5d-8e6f-0a1b2c3d4e5f';
    const before = await admin.zcard(tenantInFlightKey(services.prefix, 'quiet'));
    for (let i = 0; i < 3; i++) {
      const response = await postJson(quiet, '/v1/jobs', { id, type: 'noop', delayMs: 600_000 });
      expect(response.status).toBe(i === 0 ? 202 : 200);
    }
    expect(await admin.zcard(tenantInFlightKey(services.prefix, 'quiet'))).toBe(before + 1);
    expect(await admin.zcard(tenantInFlightKey(services.prefix, 'busy'))).toBe(OTHER_TENANT_JOBS);
    // Cancelled before it started: it leaves the set at once.
    expect((await quiet.request(`/v1/jobs/${id}/cancel`, { method: 'POST' })).status).toBe(200);
    expect(await admin.zcard(tenantInFlightKey(services.prefix, 'quiet'))).toBe(before);
  });
});
