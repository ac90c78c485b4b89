/**
 * 6. Redis Cluster: the same drain (noop jobs spread over six queues, drained by one
 * Conveyor worker to durable rows) on one redis-server and on a cluster of three masters,
 * both private to the run, with each redis-server's CPU per job read from /proc. On a
 * machine whose cores the load already fills, the total rate cannot grow; what the cluster
 * must show is each master's share of Redis' work falling towards a third.
 *
 * Then one hot queue on the cluster: every job of one queue, first as one BullMQ queue (one
 * slot, so one master does all its work) and then split into partitions (QUEUE_PARTITIONS),
 * whose hash tags spread it over the masters.
 */
import { readFile } from 'node:fs/promises';
import { createDatabase, registerJobTypes } from '@conveyor/core/db';
import {
  createProducerQueue,
  partitionNames,
  type QueuePartitions,
  toRegistration,
} from '@conveyor/core/jobs';
import { createRedis, type RedisTarget, tenantInFlightKey } from '@conveyor/core/redis';
import { freePort, startRedisCluster, startRedisServer } from '@conveyor/dev';
import type postgres from 'postgres';
import { SPREAD_QUEUES, spreadJobs } from '../fixtures/spread-worker.js';
import { type Figures, median, type Processes, post, type sizes, sleep, waitFor } from '../kit.js';

export interface ClusterBench {
  size: (typeof sizes)['full'];
  processes: Processes;
  databaseUrl: string;
  sql: postgres.Sql;
  /** The run's admin key (BOOTSTRAP_ADMIN_KEY of every API it starts). */
  auth: Record<string, string>;
}

/** CPU seconds (user + system) a process has used so far. */
async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name; in
  // clock ticks, 100 a second on Linux (USER_HZ).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface Drained {
  jobsPerSec: number;
  /** CPU µs per job of each redis-server (masters of a cluster, in slot order). */
  redisUsPerJob: number[];
}

/** What a drain submits: jobs of these queues (`spread-<i>`), in turn; the partitions of each. */
interface Load {
  queues: readonly number[];
  partitions: QueuePartitions;
}

/** The six queues, one partition each. */
const SPREAD: Load = { queues: Array.from({ length: SPREAD_QUEUES }, (_, i) => i), partitions: new Map() };
/** Partitions of the hot queue: twice the masters, so the hash tags reach all three. */
const HOT_PARTITIONS = 6;

async function drainOn(
  bench: ClusterBench,
  target: RedisTarget,
  pids: number[],
  prefix: string,
  n: number,
  load: Load = SPREAD,
): Promise<Drained> {
  const redisEnv =
    typeof target === 'string'
      ? { REDIS_URL: target, REDIS_CLUSTER_NODES: '' }
      : { REDIS_URL: '', REDIS_CLUSTER_NODES: target.cluster.join(',') };
  const partitions = [...load.partitions].map(([queue, count]) => `${queue}=${count}`).join(',');
  const env = { ...redisEnv, QUEUE_PREFIX: prefix, QUEUE_PARTITIONS: partitions };
  const apiPort = await freePort();
  const api = bench.processes.start(['--enable-source-maps', 'apps/api/dist/main.js'], {
    ...env,
    PORT: String(apiPort),
    HOST: '127.0.0.1',
  });
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const connection = createRedis(target, 'producer', 'conveyor-bench');
  // Every BullMQ queue the load lands in, to hold them paused until the worker is up.
  const queues = load.queues
    .flatMap((i) => partitionNames(`spread-${i}`, load.partitions))
    .map((name) => createProducerQueue(name, { connection, prefix }));
  try {
    // Rows left by the scenarios before would count as drained.
    await bench.sql`truncate jobs`;
    await waitFor(async () => (await fetch(`${apiUrl}/health/ready`)).ok, 30_000, 'the API becoming ready');
    const types = load.queues.map((i) => ({ type: `spread.${i}`, data: {} }));
    for (let done = 0; done < n; done += 1_000) {
      const count = Math.min(1_000, n - done);
      await post(`${apiUrl}/v1/jobs/batch`, bench.auth, {
        jobs: Array.from({ length: count }, (_, i) => types[i % types.length]),
      });
    }
    await Promise.all(queues.map((q) => q.pause()));
    const workerPort = await freePort();
    const worker = bench.processes.start(['--import', 'tsx', 'bench/fixtures/spread-worker.ts'], {
      ...env,
      WORKER_PORT: String(workerPort),
      WORKER_CONCURRENCY: '16',
    });
    await waitFor(
      async () => (await fetch(`http://127.0.0.1:${workerPort}/health/ready`)).ok,
      30_000,
      'the spread worker becoming ready',
    );
    await sleep(1_500);
    const before = await Promise.all(pids.map(cpuSeconds));
    const t0 = performance.now();
    await Promise.all(queues.map((q) => q.resume()));
    await waitFor(
      async () => ((await bench.sql<{ n: number }[]>`select count(*)::int as n from jobs`)[0]?.n ?? 0) >= n,
      600_000,
      'the drain',
    );
    const seconds = (performance.now() - t0) / 1_000;
    const after = await Promise.all(pids.map(cpuSeconds));
    await bench.processes.stop(worker);
    return {
      jobsPerSec: n / seconds,
      redisUsPerJob: pids.map((_, i) => (((after[i] ?? 0) - (before[i] ?? 0)) * 1e6) / n),
    };
  } finally {
    await bench.processes.stop(api);
    await Promise.all(queues.map((q) => q.close()));
    connection.disconnect();
    await bench.sql`truncate jobs`;
  }
}

export async function clusterDrain(bench: ClusterBench): Promise<Figures> {
  const n = bench.size.drain;
  const database = createDatabase(bench.databaseUrl, { max: 1 });
  await registerJobTypes(database.db, spreadJobs.map(toRegistration));
  await database.close();
  const single = await startRedisServer();
  const cluster = await startRedisCluster({ masters: 3 });
  const runs = {
    single: [] as Drained[],
    cluster: [] as Drained[],
    hot: [] as Drained[],
    partitioned: [] as Drained[],
  };
  const hot: Load = { queues: [0], partitions: new Map() };
  const partitioned: Load = { queues: [0], partitions: new Map([['spread-0', HOT_PARTITIONS]]) };
  // Where the hash tags put the queues, and the one key every job of the tenant touches.
  const masterOf = async (key: string) => cluster.nodes.indexOf(await cluster.nodeFor(key));
  const placement: Figures = {};
  for (let m = 0; m < 3; m++) placement[`queuesOnMaster${m}`] = 0;
  for (let i = 0; i < SPREAD_QUEUES; i++) {
    const name = `queuesOnMaster${await masterOf(`{spread-${i}}`)}`;
    placement[name] = (placement[name] ?? 0) + 1;
  }
  placement.tenantSetMaster = await masterOf(tenantInFlightKey('bench-cluster-0', 'default'));
  placement.hotTenantSetMaster = await masterOf(tenantInFlightKey('bench-hot-0', 'default'));
  for (let m = 0; m < 3; m++) placement[`hotPartitionsOnMaster${m}`] = 0;
  for (const name of partitionNames('spread-0', partitioned.partitions)) {
    const key = `hotPartitionsOnMaster${await masterOf(`{${name}}`)}`;
    placement[key] = (placement[key] ?? 0) + 1;
  }
  try {
    const onCluster = { cluster: cluster.nodes.map((node) => node.url) };
    const pids = cluster.nodes.map((node) => node.pid);
    for (let rep = 0; rep < bench.size.reps; rep++) {
      runs.single.push(await drainOn(bench, single.url, [single.pid], `bench-single-${rep}`, n));
      runs.cluster.push(await drainOn(bench, onCluster, pids, `bench-cluster-${rep}`, n));
      // One prefix for both, so the tenant's in-flight set sits on the same master in each.
      runs.hot.push(await drainOn(bench, onCluster, pids, `bench-hot-${rep}`, n, hot));
      runs.partitioned.push(await drainOn(bench, onCluster, pids, `bench-hot-${rep}`, n, partitioned));
    }
  } finally {
    await Promise.all([single.stop(), cluster.stop()]);
  }
  const mid = (xs: Drained[], pick: (d: Drained) => number) => median(xs.map(pick));
  const singleUs = mid(runs.single, (d) => d.redisUsPerJob[0] ?? 0);
  const busiest = mid(runs.cluster, (d) => Math.max(...d.redisUsPerJob));
  const figures: Figures = {
    jobs: n,
    queues: SPREAD_QUEUES,
    singleJobsPerSec: mid(runs.single, (d) => d.jobsPerSec),
    clusterJobsPerSec: mid(runs.cluster, (d) => d.jobsPerSec),
    singleRedisUsPerJob: singleUs,
    clusterRedisUsPerJob: mid(runs.cluster, (d) => d.redisUsPerJob.reduce((a, b) => a + b, 0)),
    busiestMasterUsPerJob: busiest,
    busiestMasterShare: busiest / singleUs,
  };
  for (let m = 0; m < 3; m++)
    figures[`master${m}UsPerJob`] = mid(runs.cluster, (d) => d.redisUsPerJob[m] ?? 0);
  // One hot queue: its busiest master, unpartitioned and in partitions, against one server.
  const hotBusiest = mid(runs.hot, (d) => Math.max(...d.redisUsPerJob));
  const partBusiest = mid(runs.partitioned, (d) => Math.max(...d.redisUsPerJob));
  Object.assign(figures, {
    hotQueuePartitions: HOT_PARTITIONS,
    hotQueueJobsPerSec: mid(runs.hot, (d) => d.jobsPerSec),
    partitionedJobsPerSec: mid(runs.partitioned, (d) => d.jobsPerSec),
    hotQueueRedisUsPerJob: mid(runs.hot, (d) => d.redisUsPerJob.reduce((a, b) => a + b, 0)),
    partitionedRedisUsPerJob: mid(runs.partitioned, (d) => d.redisUsPerJob.reduce((a, b) => a + b, 0)),
    hotQueueBusiestShare: hotBusiest / singleUs,
    partitionedBusiestShare: partBusiest / singleUs,
  });
  for (let m = 0; m < 3; m++) {
    figures[`hotMaster${m}UsPerJob`] = mid(runs.hot, (d) => d.redisUsPerJob[m] ?? 0);
    figures[`partitionedMaster${m}UsPerJob`] = mid(runs.partitioned, (d) => d.redisUsPerJob[m] ?? 0);
  }
  Object.assign(figures, placement);
  return figures;
}
