import { randomUUID } from 'node:crypto';
import { freePort } from '@conveyor/dev';
import { useTestServices } from '@conveyor/dev/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForStatus } from './harness.js';
import { type AppProcess, authHeaders, startApp, stopApp, waitForOk } from './processes.js';
import { promtoolCheckMetrics, samples } from './prometheus.js';

/** The API and a worker as production runs them: their /metrics endpoints and their log lines. */
const services = useTestServices();
let api: AppProcess;
let worker: AppProcess;
let apiUrl: string;
let workerUrl: string;

beforeAll(async () => {
  const env = {
    REDIS_URL: services.redisUrl,
    DATABASE_URL: services.databaseUrl,
    QUEUE_PREFIX: services.prefix,
    LOG_LEVEL: 'info',
  };
  const [apiPort, workerPort] = [await freePort(), await freePort()];
  api = startApp('api', { ...env, PORT: String(apiPort), HOST: '127.0.0.1' });
  worker = startApp('worker', { ...env, WORKER_PORT: String(workerPort) });
  apiUrl = `http://127.0.0.1:${apiPort}`;
  workerUrl = `http://127.0.0.1:${workerPort}`;
  await Promise.all([waitForOk(`${apiUrl}/health/ready`), waitForOk(`${workerUrl}/health/ready`)]);
});

afterAll(async () => {
  await Promise.all([api, worker].filter(Boolean).map((p) => stopApp(p)));
});

const get = (path: string) => fetch(`${apiUrl}${path}`, { headers: authHeaders() });

async function submit(body: unknown, headers: Record<string, string> = {}): Promise<string> {
  const response = await fetch(`${apiUrl}/v1/jobs`, {
    method: 'POST',
    headers: authHeaders({ 'content-type': 'application/json', ...headers }),
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

type LogLine = Record<string, unknown>;
/** Every line a process wrote, each parsed as JSON (a line that is not JSON fails the test). */
const lines = (app: AppProcess): LogLine[] =>
  app
    .output()
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as LogLine);

describe('the API and a worker process', () => {
  it('serve valid Prometheus exposition: the API with queue depth, the worker on its own port without it', async () => {
    const id = await submit({ type: 'echo', data: 'metrics' });
    await waitForStatus(get, id, ['completed']);
    const apiText = await (await fetch(`${apiUrl}/metrics`)).text();
    const workerText = await (await fetch(`${workerUrl}/metrics`)).text();

    expect(samples(apiText).get('conveyor_jobs_submitted_total{type="echo"}')).toBe(1);
    expect(apiText).toContain('conveyor_queue_depth{queue="default",state="waiting"}');
    expect(samples(workerText).get('conveyor_jobs_finished_total{type="echo",status="completed"}')).toBe(1);
    expect(workerText).toContain('conveyor_job_wait_seconds_bucket');
    expect(workerText).not.toContain('conveyor_queue_depth');
    for (const text of [apiText, workerText]) {
      // Without promtool (CI requires it) not made; the run's summary says so.
      const check = promtoolCheckMetrics(text);
      if (check !== null) expect(check).toEqual([]);
    }
  });

  it('log one JSON line per request and per job outcome, with request id, job id and tenant', async () => {
    const requestId = randomUUID();
    const ok = await submit({ type: 'echo', data: 1 }, { 'x-request-id': requestId });
    const bad = await submit({ type: 'test.fail', data: { message: 'nope', unrecoverable: true } });
    await waitForStatus(get, ok, ['completed']);
    await waitForStatus(get, bad, ['failed']);

    const requests = lines(api).filter((l) => l.msg === 'request' && l.requestId === requestId);
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({
      name: 'conveyor-api',
      method: 'POST',
      route: '/v1/jobs',
      status: 202,
      tenant: 'default',
      jobId: ok,
    });
    expect(JSON.stringify(lines(api))).not.toContain(authHeaders().authorization);

    // The row is committed just before the worker writes its line: give stdout a moment to arrive.
    const outcomesOf = () => lines(worker).filter((l) => l.msg === 'job finished');
    for (let i = 0; i < 100 && ![ok, bad].every((id) => outcomesOf().some((l) => l.jobId === id)); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const outcomes = outcomesOf();
    const of = (id: string) => outcomes.filter((l) => l.jobId === id);
    expect(of(ok)).toHaveLength(1);
    // The job's lines carry the id of the request that submitted it: one grep joins API and worker.
    expect(of(ok)[0]).toMatchObject({
      requestId,
      tenant: 'default',
      type: 'echo',
      queue: 'default',
      status: 'completed',
    });
    expect(of(bad)).toHaveLength(1);
    expect(of(bad)[0]).toMatchObject({
      tenant: 'default',
      type: 'test.fail',
      status: 'failed',
      error: { code: 'HANDLER_FAILED', message: 'nope' },
    });
  });
});
