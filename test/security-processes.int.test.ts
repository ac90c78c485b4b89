import { freePort } from '@conveyor/dev';
import { useTestServices } from '@conveyor/dev/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppProcess, authHeaders, startApp, stopApp, waitForOk } from './processes.js';

const services = useTestServices();
const apis: { process: AppProcess; url: string }[] = [];

/** Revocation bound under test: the per-process key cache lifetime. */
const CACHE_TTL_MS = 1_000;

beforeAll(async () => {
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    const process = startApp('api', {
      PORT: String(port),
      HOST: '127.0.0.1',
      REDIS_URL: services.redisUrl,
      DATABASE_URL: services.databaseUrl,
      QUEUE_PREFIX: services.prefix,
      AUTH_CACHE_TTL_MS: String(CACHE_TTL_MS),
      RATE_LIMIT_PER_SECOND: '5',
      RATE_LIMIT_BURST: '10',
    });
    apis.push({ process, url: `http://127.0.0.1:${port}` });
    await waitForOk(`${apis[i]?.url}/health/ready`);
  }
});
afterAll(async () => {
  await Promise.all(apis.map((a) => stopApp(a.process)));
});

function api(i: number): string {
  const url = apis[i]?.url;
  if (!url) throw new Error(`no api ${i}`);
  return url;
}

async function createKey(scopes: string[]): Promise<{ id: string; key: string }> {
  const response = await fetch(`${api(0)}/v1/keys`, {
    method: 'POST',
    headers: authHeaders({ 'content-type': 'application/json' }),
    body: JSON.stringify({ name: 'test', scopes }),
  });
  expect(response.status).toBe(201);
  return (await response.json()) as { id: string; key: string };
}

describe('API keys across API processes', () => {
  it('stops accepting a revoked key on the other process within the cache bound', async () => {
    const { id, key } = await createKey(['jobs:read']);
    const bearer = { authorization: `Bearer ${key}` };
    expect((await fetch(`${api(1)}/v1/job-types`, { headers: bearer })).status).toBe(200);
    const revoked = await fetch(`${api(0)}/v1/keys/${id}`, { method: 'DELETE', headers: authHeaders() });
    expect(revoked.status).toBe(204);
    const started = Date.now();
    let status = 200;
    // Polled at 4/s, under the key's 5/s rate limit.
    while (status !== 401 && Date.now() - started < 10_000) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      status = (await fetch(`${api(1)}/v1/job-types`, { headers: bearer })).status;
    }
    expect(status).toBe(401);
    expect(Date.now() - started).toBeLessThan(CACHE_TTL_MS + 1_000);
  });

  it('shares one rate limit per key between the processes', async () => {
    const { key } = await createKey(['jobs:read']);
    const started = Date.now();
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        fetch(`${api(i % 2)}/v1/job-types`, { headers: { authorization: `Bearer ${key}` } }),
      ),
    );
    const seconds = (Date.now() - started) / 1_000;
    const ok = responses.filter((r) => r.status === 200);
    const limited = responses.filter((r) => r.status === 429);
    // A burst of 10 plus 5/s refill, whichever process answered.
    expect(ok.length).toBeGreaterThanOrEqual(10);
    expect(ok.length).toBeLessThanOrEqual(10 + Math.ceil(5 * seconds) + 1);
    expect(limited.length).toBe(40 - ok.length);
    const sample = limited[0];
    expect(sample?.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(sample?.headers.get('ratelimit-limit')).toBe('10');
    expect(sample?.headers.get('ratelimit-remaining')).toBe('0');
    expect(await sample?.json()).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
    expect(ok[0]?.headers.get('ratelimit-remaining')).toMatch(/^\d+$/);
  });
});
