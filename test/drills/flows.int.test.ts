import { setTimeout as sleep } from 'node:timers/promises';
import { type RedisServerHandle, startRedisServer } from '@conveyor/dev';
import { useTestServices } from '@conveyor/dev/testing';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authHeaders } from '../processes.js';
import { type AppProcess, FAST_LOCKS, startApi, startWorker, stopApp } from './drill-kit.js';

/**
 * Flows under crashes: a flow of 1 root, 20 children and 100 grandchildren while workers are
 * SIGKILLed, and while Redis restarts. Every node must end as exactly one completed row, and
 * no parent may start before each of its children has finished.
 */
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
  await redis?.stop();
  await sql.end();
});

/** 1 root, 20 children, 5 grandchildren each: 121 sleep jobs. */
const FLOW = {
  type: 'sleep',
  data: { ms: 20 },
  children: Array.from({ length: 20 }, (_, c) => ({
    type: 'sleep',
    data: { ms: 30 + (c % 4) * 10 },
    children: Array.from({ length: 5 }, (_, g) => ({
      type: 'sleep',
      data: { ms: 150 + ((c * 5 + g) % 7) * 50 },
    })),
  })),
};

interface NodeRow {
  id: string;
  parent_id: string | null;
  status: string;
  runs: number;
  started_at: Date | string | null;
  finished_at: Date | string;
}

async function submitFlow(api: string): Promise<string[]> {
  const response = await fetch(`${api}/v1/flows`, {
    method: 'POST',
    headers: authHeaders({ 'content-type': 'application/json' }),
    body: JSON.stringify(FLOW),
  });
  expect(response.status, await response.clone().text()).toBe(202);
  return ((await response.json()) as { nodes: { id: string }[] }).nodes.map((n) => n.id);
}

/** Waits until every node has a row; then checks each is one completed row, after its children. */
async function assertFlowHeld(ids: string[], timeoutMs: number): Promise<NodeRow[]> {
  const deadline = Date.now() + timeoutMs;
  let rows: NodeRow[] = [];
  while (Date.now() < deadline) {
    rows = await sql<NodeRow[]>`
      select id, parent_id, status, runs, started_at, finished_at from jobs where id = any(${ids})`;
    if (rows.length === ids.length) break;
    await sleep(250);
  }
  expect(rows.length, `rows for ${rows.length} of ${ids.length} nodes`).toBe(ids.length);
  expect(rows.filter((r) => r.status !== 'completed')).toEqual([]);
  const byId = new Map(rows.map((r) => [r.id, r]));
  const early = rows.filter((row) => {
    if (row.parent_id === null) return false;
    const parent = byId.get(row.parent_id);
    return new Date(parent?.started_at ?? 0).getTime() < new Date(row.finished_at).getTime();
  });
  expect(
    early.map((r) => r.id),
    'parents started before this child finished',
  ).toEqual([]);
  return rows;
}

describe('drill: flows under crashes', { timeout: 180_000 }, () => {
  it('loses no node and runs no parent before its children while workers are SIGKILLed', async () => {
    const drill = { ...services, redisUrl: redis.url };
    const api = await startApi(drill);
    started.push(api.process);
    const env = { ...FAST_LOCKS, WORKER_CONCURRENCY: '16' };
    let workers = [await startWorker(drill, env), await startWorker(drill, env)];
    started.push(...workers);
    const ids = await submitFlow(api.url);
    expect(ids).toHaveLength(121);
    let kills = 0;
    for (let round = 0; round < 4; round++) {
      await sleep(600);
      const [victim, ...rest] = workers;
      if (!victim) break;
      victim.child.kill('SIGKILL');
      kills++;
      const fresh = await startWorker(drill, env);
      started.push(fresh);
      workers = [...rest, fresh];
    }
    const rows = await assertFlowHeld(ids, 90_000);
    expect(kills).toBe(4);
    const rerun = rows.filter((r) => r.runs > 1).length;
    console.log(
      `[drill] flow of ${ids.length} jobs, ${kills} SIGKILLs: ${rerun} re-run, 0 lost, no parent early`,
    );
  });

  it('loses no node and runs no parent before its children across a Redis restart', async () => {
    const drill = { ...services, redisUrl: redis.url, prefix: `${services.prefix}r` };
    const api = await startApi(drill, { REQUEST_TIMEOUT_MS: '3000' });
    started.push(api.process);
    started.push(
      await startWorker(drill, {
        WORKER_CONCURRENCY: '16',
        WORKER_LOCK_DURATION_MS: '5000',
        WORKER_STALLED_INTERVAL_MS: '2000',
      }),
    );
    const ids = await submitFlow(api.url);
    await sleep(700);
    const downAt = Date.now();
    await redis.down();
    await sleep(2_000);
    await redis.up();
    const upAt = Date.now();
    const rows = await assertFlowHeld(ids, 90_000);
    // The outage fell mid-flow: nodes ended before it, and the rest (the root among them) after.
    const finished = rows.map((r) => new Date(r.finished_at).getTime());
    expect(finished.filter((t) => t < downAt).length).toBeGreaterThan(0);
    expect(finished.filter((t) => t > upAt).length).toBeGreaterThan(0);
    const rerun = rows.filter((r) => r.runs > 1).length;
    console.log(
      `[drill] flow of ${ids.length} jobs across a Redis restart: ${rerun} re-run, 0 lost, no parent early`,
    );
  });
});
