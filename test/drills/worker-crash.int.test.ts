import { useTestServices } from '@conveyor/dev/testing';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AppProcess,
  assertAllCompleted,
  assertExactlyOnce,
  DRILL_JOBS,
  FAST_LOCKS,
  startApi,
  startWorker,
  stopApp,
  submitMany,
  waitForRows,
} from './drill-kit.js';

const services = useTestServices();
let sql: postgres.Sql;
const started: AppProcess[] = [];

beforeAll(() => {
  sql = postgres(services.databaseUrl, { max: 2, onnotice: () => {} });
});
afterAll(async () => {
  await Promise.all(started.map((p) => stopApp(p, 'SIGKILL')));
  await sql.end();
});

describe('drill: worker crashes', { timeout: 120_000 }, () => {
  it('records every accepted job exactly once while workers are SIGKILLed every second', async () => {
    const api = await startApi(services);
    started.push(api.process);
    const workerEnv = { ...FAST_LOCKS, WORKER_CONCURRENCY: '32' };
    let workers = [await startWorker(services, workerEnv), await startWorker(services, workerEnv)];
    started.push(...workers);

    // The jobs flow in while the workers are killed (12 batches over ~6 s) and take 150–250 ms
    // each, so the workers' slots stay full and every kill lands on jobs in hand.
    const ids: string[] = [];
    const batches = 12;
    const flow = (async () => {
      for (let b = 0; b < batches; b++) {
        const count = Math.floor(DRILL_JOBS / batches) + (b < DRILL_JOBS % batches ? 1 : 0);
        const offset = ids.length;
        ids.push(
          ...(await submitMany(api.url, count, (i) => ({
            type: 'sleep',
            data: { ms: 150 + ((offset + i) % 100) },
          }))),
        );
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    })();

    // Kill one worker (SIGKILL: no drain, no cleanup) and start a fresh one, a few times.
    let kills = 0;
    const killer = (async () => {
      for (let round = 0; round < 6; round++) {
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        const [victim, ...rest] = workers;
        if (!victim) break;
        victim.child.kill('SIGKILL');
        kills++;
        const fresh = await startWorker(services, workerEnv);
        started.push(fresh);
        workers = [...rest, fresh];
      }
    })();
    await Promise.all([flow, killer]);
    expect(ids).toHaveLength(DRILL_JOBS);
    const rows = await waitForRows(sql, ids, 120_000);

    assertExactlyOnce(ids, rows);
    assertAllCompleted(rows);
    expect(kills).toBe(6);
    // Jobs a killed worker was running ran again elsewhere, and the row counts it.
    const rerun = rows.filter((r) => r.runs > 1).length;
    expect(rerun).toBeGreaterThan(0);
    console.log(
      `[drill] ${ids.length} jobs, ${kills} SIGKILLs, ${rerun} jobs re-run after a crash, 0 lost, 0 duplicated`,
    );
  });
});
