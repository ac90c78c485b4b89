import { freePort } from '@conveyor/dev';
import { useTestServices } from '@conveyor/dev/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForStatus } from './harness.js';
import { type AppProcess, authHeaders, startApp, stopApp, waitForOk } from './processes.js';

const services = useTestServices();
const started: AppProcess[] = [];
let api: string;

function env(extra: Record<string, string> = {}) {
  return {
    REDIS_URL: services.redisUrl,
    DATABASE_URL: services.databaseUrl,
    QUEUE_PREFIX: services.prefix,
    ...extra,
  };
}

async function startWorker(extra: Record<string, string> = {}) {
  const port = await freePort();
  const worker = startApp('stock-worker', env({ WORKER_PORT: String(port), ...extra }));
  started.push(worker);
  await waitForOk(`http://127.0.0.1:${port}/health/ready`);
  return worker;
}

const get = (path: string) => fetch(`${api}${path}`, { headers: authHeaders() });
async function submit(body: unknown): Promise<string> {
  const response = await fetch(`${api}/v1/jobs`, {
    method: 'POST',
    headers: authHeaders({ 'content-type': 'application/json' }),
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

beforeAll(async () => {
  const port = await freePort();
  started.push(startApp('api', env({ PORT: String(port), HOST: '127.0.0.1' })));
  api = `http://127.0.0.1:${port}`;
  await waitForOk(`${api}/health/ready`);
});

afterAll(async () => {
  await Promise.all(started.map((p) => stopApp(p, 'SIGKILL')));
});

describe('API and worker as separate processes', () => {
  it('sends the secure headers on real answers, errors included', async () => {
    for (const response of [
      await get('/v1/job-types'),
      await get('/v1/nope'),
      await fetch(`${api}/health/live`),
    ]) {
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect(response.headers.get('strict-transport-security')).toContain('max-age=');
    }
  });

  it('answers 413 for a body over the limit, announced by Content-Length or streamed in chunks', async () => {
    const big = JSON.stringify({ type: 'echo', data: 'x'.repeat(1_100_000) });
    const announced = await fetch(`${api}/v1/jobs`, {
      method: 'POST',
      headers: authHeaders({ 'content-type': 'application/json' }),
      body: big,
    });
    expect(announced.status).toBe(413);
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 20; i++)
          controller.enqueue(new TextEncoder().encode(big.slice(i * 60_000, (i + 1) * 60_000)));
        controller.close();
      },
    });
    const streamed = await fetch(`${api}/v1/jobs`, {
      method: 'POST',
      headers: authHeaders({ 'content-type': 'application/json' }),
      body: chunks,
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    // A body under the limit still goes through, chunked or not, once a worker has
    // registered its type.
    const worker = await startWorker();
    const small = await fetch(`${api}/v1/jobs`, {
      method: 'POST',
      headers: authHeaders({ 'content-type': 'application/json' }),
      body: new Blob([JSON.stringify({ type: 'noop' })]).stream(),
      duplex: 'half',
    } as RequestInit);
    expect(small.status).toBe(202);
    expect(await stopApp(worker)).toBe(0);
  });

  it('takes a job over HTTP to a completed result', async () => {
    const worker = await startWorker();
    const id = await submit({ type: 'echo', data: { over: 'http' } });
    expect(await waitForStatus(get, id, ['completed'])).toMatchObject({ result: { over: 'http' } });
    expect(await stopApp(worker)).toBe(0);
  });

  it('finishes a running job on SIGTERM, records it, and exits 0', async () => {
    const worker = await startWorker({ SHUTDOWN_GRACE_MS: '10000' });
    const id = await submit({ type: 'sleep', data: { ms: 1_500 } });
    await waitForStatus(get, id, ['active']);
    const exit = stopApp(worker);
    const view = await waitForStatus(get, id, ['completed', 'failed']);
    expect(view).toMatchObject({ status: 'completed', attempts: 1 });
    expect(await exit).toBe(0);
  });

  it('hands a job back when the grace period runs out, without using an attempt', async () => {
    const first = await startWorker({ SHUTDOWN_GRACE_MS: '200' });
    const id = await submit({ type: 'sleep', data: { ms: 2_500 } });
    await waitForStatus(get, id, ['active']);
    expect(await stopApp(first)).toBe(0);
    expect(await waitForStatus(get, id, ['queued'])).toMatchObject({ status: 'queued' });

    const second = await startWorker();
    const view = await waitForStatus(get, id, ['completed', 'failed']);
    expect(view.status).toBe('completed');
    expect(view.error).toBeNull();
    await stopApp(second);
  });

  it('stops with exit code 1 and names every bad variable', async () => {
    const bad = startApp('api', {
      PORT: 'eighty',
      REDIS_URL: 'http://nope',
      DATABASE_URL: services.databaseUrl,
    });
    expect(await bad.exited).toBe(1);
    expect(bad.output()).toContain('PORT: must be an integer');
    expect(bad.output()).toContain('REDIS_URL: must be a URL starting with redis://');
  });
});
