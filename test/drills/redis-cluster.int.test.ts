import { setTimeout as sleep } from 'node:timers/promises';
import { createRedis } from '@conveyor/core/redis';
import { type RedisClusterHandle, startRedisCluster } from '@conveyor/dev';
import { useTestServices } from '@conveyor/dev/testing';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authHeaders } from '../processes.js';
import {
  type AppProcess,
  assertAllCompleted,
  assertExactlyOnce,
  type DrillServices,
  FAST_LOCKS,
  rowsOf,
  startApi,
  startWorker,
  stopApp,
  submitMany,
  waitForRows,
} from './drill-kit.js';

/**
 * The drills on a real Redis Cluster started here: workers SIGKILLed while jobs flow (the
 * same guarantee as on one server), and a master SIGKILLed so its replica takes over, which
 * reports how many accepted jobs survived (replication is asynchronous).
 */
const services = useTestServices();
let sql: postgres.Sql;
const started: AppProcess[] = [];
const clusters: RedisClusterHandle[] = [];

beforeAll(() => {
  sql = postgres(services.databaseUrl, { max: 2, onnotice: () => {} });
});
afterAll(async () => {
  await Promise.all(started.map((p) => stopApp(p, 'SIGKILL')));
  await Promise.all(clusters.map((c) => c.stop()));
  await sql.end();
});

async function clusterServices(options: Parameters<typeof startRedisCluster>[0]): Promise<DrillServices> {
  const cluster = await startRedisCluster(options);
  clusters.push(cluster);
  return { ...services, redisUrl: '', redisClusterNodes: cluster.seeds };
}

/** Jobs waiting or running in `queue` on the cluster. */
async function backlog(cluster: RedisClusterHandle, queue: string): Promise<number> {
  const redis = createRedis({ cluster: cluster.nodes.map((node) => node.url) }, 'worker');
  try {
    const key = `${services.prefix}:{${queue}}:${queue}`;
    const [wait, active] = await Promise.all([redis.llen(`${key}:wait`), redis.llen(`${key}:active`)]);
    return wait + active;
  } finally {
    redis.disconnect();
  }
}

describe('drills on a Redis Cluster', { timeout: 180_000 }, () => {
  it('records every accepted job exactly once while workers are SIGKILLed, the queue in partitions', async () => {
    const cluster = await clusterServices({ masters: 3 });
    // The queue split over three partitions: every partition's jobs of a killed worker stall
    // back into their own partition and run again.
    const partitions = { QUEUE_PARTITIONS: 'default=3' };
    const api = await startApi(cluster, partitions);
    started.push(api.process);
    const env = { ...FAST_LOCKS, ...partitions, WORKER_CONCURRENCY: '32' };
    let workers = [await startWorker(cluster, env), await startWorker(cluster, env)];
    started.push(...workers);
    const ids: string[] = [];
    const flow = (async () => {
      for (let b = 0; b < 8; b++) {
        ids.push(
          ...(await submitMany(api.url, 100, (i) => ({ type: 'sleep', data: { ms: 150 + (i % 100) } }))),
        );
        await sleep(400);
      }
    })();
    let kills = 0;
    const killer = (async () => {
      for (let round = 0; round < 4; round++) {
        await sleep(800);
        const [victim, ...rest] = workers;
        if (!victim) break;
        victim.child.kill('SIGKILL');
        kills++;
        const fresh = await startWorker(cluster, env);
        started.push(fresh);
        workers = [...rest, fresh];
      }
    })();
    await Promise.all([flow, killer]);
    const rows = await waitForRows(sql, ids, 90_000);
    assertExactlyOnce(ids, rows);
    assertAllCompleted(rows);
    expect(kills).toBe(4);
    const rerun = rows.filter((r) => r.runs > 1).length;
    // The jobs ran in every partition.
    const nodes = (clusters.at(-1) as RedisClusterHandle).nodes;
    const redis = createRedis({ cluster: nodes.map((node) => node.url) }, 'worker');
    try {
      const done = await Promise.all(
        ['default', 'default.1', 'default.2'].map((q) =>
          redis.zcard(`${services.prefix}:{${q}}:${q}:completed`),
        ),
      );
      expect(
        done.every((n) => n > 0),
        JSON.stringify(done),
      ).toBe(true);
    } finally {
      redis.disconnect();
    }
    console.log(
      `[drill] cluster, 3 partitions: ${ids.length} jobs, ${kills} SIGKILLs, ${rerun} re-run, 0 lost`,
    );
  });

  it('fails a master over to its replica: reports the accepted jobs lost, loses none accepted after', async () => {
    const cluster = await clusterServices({ masters: 3, replicasPerMaster: 1, nodeTimeoutMs: 1_000 });
    const handle = clusters.at(-1) as RedisClusterHandle;
    const api = await startApi(cluster);
    started.push(api.process);
    const workers = [await startWorker(cluster, FAST_LOCKS), await startWorker(cluster, FAST_LOCKS)];
    started.push(...workers);

    const owner = await handle.nodeFor(`${services.prefix}:{default}:default:meta`);
    const accepted: { id: string; at: number }[] = [];
    let refused = 0;
    let slowestMs = 0;
    let killedAt = 0;
    const flowEnds = Date.now() + 9_000;
    const flow = (async () => {
      while (Date.now() < flowEnds) {
        const sent = Date.now();
        const response = await fetch(`${api.url}/v1/jobs/batch`, {
          method: 'POST',
          headers: authHeaders({ 'content-type': 'application/json' }),
          body: JSON.stringify({
            jobs: Array.from({ length: 20 }, () => ({ type: 'sleep', data: { ms: 20 } })),
          }),
        }).catch(() => undefined);
        slowestMs = Math.max(slowestMs, Date.now() - sent);
        if (response?.status === 202) {
          const { items } = (await response.json()) as { items: { id: string; outcome: string }[] };
          const at = Date.now();
          for (const item of items) if (item.outcome === 'enqueued') accepted.push({ id: item.id, at });
        } else {
          refused++;
          await response?.body?.cancel();
        }
        await sleep(50);
      }
    })();
    await sleep(2_500);
    // The master of the default queue dies without a word; its replica is promoted once the
    // others have missed it for the node timeout.
    owner.kill('SIGKILL');
    killedAt = Date.now();
    await flow;
    const promoted = await handle.nodeFor(`${services.prefix}:{default}:default:meta`);
    expect(promoted.port).not.toBe(owner.port);

    // Let the workers drain what the promoted replica holds, then count.
    await expect.poll(() => backlog(handle, 'default'), { timeout: 60_000, interval: 500 }).toBe(0);
    await sleep(1_000);
    const rows = await rowsOf(
      sql,
      accepted.map((a) => a.id),
    );
    assertAllCompleted(rows);
    const recorded = new Set(rows.map((r) => r.id));
    const lost = accepted.filter((a) => !recorded.has(a.id));
    const after = accepted.filter((a) => a.at > killedAt + 5_000);
    // A job accepted once the promoted replica serves the slot is never lost.
    expect(after.length).toBeGreaterThan(0);
    expect(after.filter((a) => !recorded.has(a.id))).toEqual([]);
    // What the old master acknowledged but had not yet replicated is what a failover loses:
    // only jobs accepted shortly before the kill.
    for (const job of lost) expect(job.at).toBeLessThanOrEqual(killedAt + 5_000);
    const lostBefore = lost.filter((a) => a.at <= killedAt).length;
    console.log(
      `[drill] failover: ${accepted.length} accepted, ${rows.length} recorded, ${lost.length} lost ` +
        `(${lostBefore} accepted before the kill, ${lost.length - lostBefore} in the ${
          5_000 / 1_000
        } s after it), ${refused} batches refused (503) while the slot had no master, the slowest answered in ${slowestMs} ms`,
    );
    // Once promoted, the cluster serves the queue again: readiness and a fresh job.
    const fresh = await submitMany(api.url, 1, () => ({ type: 'noop' }));
    expect(await waitForRows(sql, fresh, 20_000)).toHaveLength(1);
    expect(lost.length).toBeLessThan(accepted.length / 2);
  });
});
