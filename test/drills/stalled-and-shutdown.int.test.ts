import { useTestServices } from '@conveyor/dev/testing';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authHeaders } from '../processes.js';
import {
  type AppProcess,
  assertAllCompleted,
  assertExactlyOnce,
  FAST_LOCKS,
  rowsOf,
  startApi,
  startWorker,
  stopApp,
  submitMany,
  waitForRows,
} from './drill-kit.js';

const services = useTestServices();
let sql: postgres.Sql;
let api: { process: AppProcess; url: string };
const started: AppProcess[] = [];

beforeAll(async () => {
  sql = postgres(services.databaseUrl, { max: 2, onnotice: () => {} });
  api = await startApi(services);
  started.push(api.process);
});
afterAll(async () => {
  await Promise.all(started.map((p) => stopApp(p, 'SIGKILL')));
  await sql.end();
});

describe('drill: stalled worker', { timeout: 120_000 }, () => {
  it('moves the jobs of a worker frozen past its lock to another worker and records each once', async () => {
    const frozen = await startWorker(services, { ...FAST_LOCKS, WORKER_CONCURRENCY: '10' });
    started.push(frozen);
    const ids = await submitMany(api.url, 10, () => ({ type: 'sleep', data: { ms: 2_000 } }));
    await new Promise((resolve) => setTimeout(resolve, 500));
    frozen.child.kill('SIGSTOP');
    const rescuer = await startWorker(services, { ...FAST_LOCKS, WORKER_CONCURRENCY: '10' });
    started.push(rescuer);
    const rows = await waitForRows(sql, ids, 30_000);
    // Thawed, the first worker finishes its copies too: their rows must not double.
    frozen.child.kill('SIGCONT');
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const after = await rowsOf(sql, ids);
    assertExactlyOnce(ids, after);
    assertAllCompleted(rows);
    expect(after.every((r) => r.runs >= 2)).toBe(true);
  });
});

describe('drill: graceful shutdown under load', { timeout: 120_000 }, () => {
  it('a worker on SIGTERM finishes or hands back every active job within its grace period', async () => {
    const draining = await startWorker(services, { WORKER_CONCURRENCY: '40', SHUTDOWN_GRACE_MS: '1000' });
    started.push(draining);
    // Half finish inside the grace period, half are handed back.
    const ids = await submitMany(api.url, 80, (i) => ({
      type: 'sleep',
      data: { ms: i % 2 === 0 ? 300 : 5_000 },
    }));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const t0 = Date.now();
    expect(await stopApp(draining)).toBe(0);
    expect(Date.now() - t0).toBeLessThan(3_000);
    started.push(await startWorker(services, { WORKER_CONCURRENCY: '80' }));
    const rows = await waitForRows(sql, ids, 30_000);
    assertExactlyOnce(ids, rows);
    assertAllCompleted(rows);
  });

  it('the API on SIGTERM answers every in-flight request, ends its streams cleanly, then exits 0', async () => {
    const second = await startApi(services);
    // In flight for sure: headers sent, body still arriving when SIGTERM lands.
    const releases: (() => void)[] = [];
    const requests = Array.from({ length: 10 }, () => {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('{"type":'));
          releases.push(() => {
            controller.enqueue(new TextEncoder().encode('"noop"}'));
            controller.close();
          });
        },
      });
      return fetch(`${second.url}/v1/jobs`, {
        method: 'POST',
        headers: authHeaders({ 'content-type': 'application/json' }),
        body,
        duplex: 'half',
      } as RequestInit);
    });
    const job = await submitMany(second.url, 1, () => ({ type: 'noop', delayMs: 60_000 }));
    const streams = await Promise.all(
      [1, 2, 3].map(() => fetch(`${second.url}/v1/jobs/${job[0]}/events`, { headers: authHeaders() })),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    const exit = stopApp(second.process);
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (const release of releases) release();
    const responses = await Promise.all(requests);
    expect(responses.map((r) => r.status)).toEqual(Array(10).fill(202));
    // Each stream ends like a finished response: no error, no hang.
    for (const stream of streams) expect(await stream.text()).toContain('event: snapshot');
    expect(await exit).toBe(0);
  }, 60_000);
});
