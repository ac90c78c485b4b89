import { type RedisServerHandle, startRedisServer } from '@conveyor/dev';
import { useTestServices } from '@conveyor/dev/testing';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authHeaders } from '../processes.js';
import {
  type AppProcess,
  assertAllCompleted,
  assertExactlyOnce,
  startApi,
  startWorker,
  stopApp,
  waitForRows,
} from './drill-kit.js';

const services = useTestServices();
let sql: postgres.Sql;
let redis: RedisServerHandle;
const started: AppProcess[] = [];

beforeAll(async () => {
  sql = postgres(services.databaseUrl, { max: 2, onnotice: () => {} });
  redis = await startRedisServer({ appendOnly: true });
});
afterAll(async () => {
  await Promise.all(started.map((p) => stopApp(p, 'SIGKILL')));
  await redis.stop();
  await sql.end();
});

describe('drill: Redis restart (AOF, appendfsync always)', { timeout: 120_000 }, () => {
  it('answers 503 fast while Redis is down, reconnects by itself and loses no accepted job', async () => {
    const drill = { ...services, redisUrl: redis.url };
    const api = await startApi(drill, { REQUEST_TIMEOUT_MS: '3000' });
    started.push(api.process);
    // Jobs that were running when Redis went away are picked up again once their lock lapses:
    // a short lock keeps that wait (lock + stall check, 30 s + 30 s by default) inside the drill.
    started.push(
      await startWorker(drill, {
        WORKER_CONCURRENCY: '16',
        WORKER_LOCK_DURATION_MS: '5000',
        WORKER_STALLED_INTERVAL_MS: '2000',
      }),
    );

    const accepted: string[] = [];
    const outageAnswers: { status: number; ms: number }[] = [];
    let redisDown = false;
    const submitOne = async (i: number) => {
      const t0 = Date.now();
      const response = await fetch(`${api.url}/v1/jobs`, {
        method: 'POST',
        headers: authHeaders({ 'content-type': 'application/json' }),
        body: JSON.stringify({ type: 'sleep', data: { ms: 20 + (i % 50) } }),
      });
      if (redisDown) outageAnswers.push({ status: response.status, ms: Date.now() - t0 });
      if (response.status === 202) accepted.push(((await response.json()) as { id: string }).id);
      else expect(response.status).toBe(503);
    };

    // Steady submits before, during and after the outage.
    let i = 0;
    const load = (async () => {
      const until = Date.now() + 6_000;
      while (Date.now() < until) {
        await Promise.all(Array.from({ length: 5 }, () => submitOne(i++)));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await redis.down();
    redisDown = true;
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const readiness = await fetch(`${api.url}/health/ready`);
    expect(readiness.status).toBe(503);
    redisDown = false;
    await redis.up();
    await load;

    expect(outageAnswers.length).toBeGreaterThan(0);
    expect(outageAnswers.every((a) => a.status === 503)).toBe(true);
    // Never hangs: well under the 3 s request timeout.
    expect(Math.max(...outageAnswers.map((a) => a.ms))).toBeLessThan(1_000);
    const rows = await waitForRows(sql, accepted, 60_000);
    assertExactlyOnce(accepted, rows);
    assertAllCompleted(rows);
    console.log(
      `[drill] Redis down ~2 s: ${accepted.length} accepted, ${outageAnswers.length} refused with 503 (max ${Math.max(...outageAnswers.map((a) => a.ms))} ms), 0 lost`,
    );
  });
});
