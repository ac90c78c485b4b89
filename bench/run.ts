/**
 * `npm run bench`: Conveyor against raw BullMQ baselines, measured in the same run on the
 * same Redis and Postgres (REDIS_URL / DATABASE_URL, or private servers like the tests).
 * `npm run bench -- --smoke` runs tiny sizes (CI proves it works). Prints a table and writes
 * bench/results/<time>.json. Method and latest figures: docs/performance.md.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { createDatabase, registerJobTypes } from '@conveyor/core/db';
import { createProducerQueue, toRegistration } from '@conveyor/core/jobs';
import { tenantInFlightKey } from '@conveyor/core/redis';
import { freePort, startIsolatedRun } from '@conveyor/dev';
import { builtinJobs } from '@conveyor/worker';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { type Bench, type Figures, Processes, post, root, sizes, waitFor } from './kit.js';
import { batchIngest } from './scenarios/batch-ingest.js';
import { clusterDrain } from './scenarios/cluster.js';
import { drain } from './scenarios/drain.js';
import { endToEnd } from './scenarios/end-to-end.js';
import { eventLog } from './scenarios/event-log.js';
import { ingest } from './scenarios/ingest.js';
import { memory } from './scenarios/memory.js';

const mode = process.argv.includes('--smoke') ? 'smoke' : 'full';
const size = sizes[mode];
const only = process.argv
  .find((a) => a.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');

/** The ratios and bounds the issue sets, checked on every run. */
function targets(results: Record<string, Figures>) {
  return {
    ingest: (results.ingest?.ratio ?? 0) >= 0.8,
    batchIngest: (results.batchIngest?.ratio ?? 0) >= 0.8,
    drain: (results.drain?.ratio ?? 0) >= 0.7,
    endToEndP99: (results.endToEnd?.p99Ms ?? Number.POSITIVE_INFINITY) <= 25,
    workerRssFlat: Math.abs(results.memory?.workerRssGrowth ?? 1) <= 0.1,
    eventLogBounded: results.eventLog?.bounded === 1,
  };
}

async function main(): Promise<void> {
  const run = await startIsolatedRun({ name: 'bench', env: process.env, dataDir: `${root}.data/bench-pg` });
  const { prefix, adminKey: key } = run;
  const sql = postgres(run.databaseUrl, { max: 2, onnotice: () => {} });
  const redis = new Redis(run.redisUrl, { maxRetriesPerRequest: null, enableAutoPipelining: true });
  // Conveyor's own producer options: a plain Queue would reset the queue's events-stream length.
  const queue = createProducerQueue('default', { connection: redis, prefix });
  const processes = new Processes({
    ...process.env,
    REDIS_URL: run.redisUrl,
    DATABASE_URL: run.databaseUrl,
    QUEUE_PREFIX: prefix,
    BOOTSTRAP_ADMIN_KEY: key,
    // A per-key rate limit would cap the load generator, not measure Conveyor. Everything
    // else keeps its default (info logs to /dev/null, the tenant cap on) unless set outside.
    RATE_LIMIT_PER_SECOND: '0',
  });
  const results: Record<string, Figures> = {};
  try {
    // The API accepts the types workers registered: register the built-ins as the stock
    // worker does when it starts, since the ingest scenarios run the API without a worker.
    const database = createDatabase(run.databaseUrl, { max: 1 });
    await registerJobTypes(database.db, builtinJobs().map(toRegistration));
    await database.close();
    const apiPort = await freePort();
    const api = processes.start(['--enable-source-maps', 'apps/api/dist/main.js'], {
      PORT: String(apiPort),
      HOST: '127.0.0.1',
    });
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    await waitFor(async () => (await fetch(`${apiUrl}/health/ready`)).ok, 20_000, 'the API becoming ready');
    const auth = { authorization: `Bearer ${key}` };
    const noop = Array.from({ length: 1_000 }, () => ({ type: 'noop' }));
    const bench: Bench = {
      size,
      processes,
      apiUrl,
      auth,
      queue,
      sql,
      async reset() {
        await queue.obliterate({ force: true });
        await redis.del(tenantInFlightKey(prefix, 'default'));
        await sql`truncate jobs`;
      },
      async fill(n) {
        for (let done = 0; done < n; done += 1_000) {
          await post(`${apiUrl}/v1/jobs/batch`, auth, { jobs: noop.slice(0, Math.min(1_000, n - done)) });
        }
      },
      async backlog() {
        const c = await queue.getJobCounts('wait', 'prioritized', 'active');
        return (c.wait ?? 0) + (c.prioritized ?? 0) + (c.active ?? 0);
      },
      async rows() {
        return (await sql<{ n: number }[]>`select count(*)::int as n from jobs`)[0]?.n ?? 0;
      },
      async startWorker(extra = {}) {
        const port = extra.WORKER_PORT ? Number(extra.WORKER_PORT) : await freePort();
        const worker = processes.start(['--enable-source-maps', 'apps/worker/dist/main.js'], {
          WORKER_PORT: String(port),
          ...extra,
        });
        const ready = async () => (await fetch(`http://127.0.0.1:${port}/health/ready`)).ok;
        await waitFor(ready, 20_000, 'a worker becoming ready');
        return worker;
      },
    };
    const scenarios: [string, () => Promise<Figures>][] = [
      ['ingest', () => ingest(bench)],
      ['batchIngest', () => batchIngest(bench)],
      ['drain', () => drain(bench)],
      ['endToEnd', () => endToEnd(bench, run.redisUrl, prefix)],
      ['memory', () => memory(bench, api)],
      ['cluster', () => clusterDrain({ size, processes, databaseUrl: run.databaseUrl, sql, auth })],
      // On a redis-server of its own: no API, no worker.
      ['eventLog', () => eventLog(size)],
    ];
    for (const [name, run] of scenarios) {
      if (only && !only.includes(name)) continue;
      process.stderr.write(`bench: ${name}…\n`);
      results[name] = await run();
    }
  } finally {
    await processes.stopAll();
    await queue.close();
    redis.disconnect();
    await sql.end();
    // Nothing left behind: the run's keys, its database and template, private servers.
    await run.close();
  }

  const report = {
    at: new Date().toISOString(),
    mode,
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    reps: size.reps,
    results,
    targets: targets(results),
  };
  await mkdir(`${root}bench/results`, { recursive: true });
  const file = `${root}bench/results/${report.at.replace(/[:.]/g, '-')}.json`;
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(
    `\nConveyor benchmark (${mode}, ${report.cores} cores, Node ${report.node}), medians of ${size.reps}:`,
  );
  for (const [scenario, figures] of Object.entries(results)) {
    const cells = Object.entries(figures).map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(2)}`);
    console.log(`  ${scenario.padEnd(12)} ${cells.join(' · ')}`);
  }
  const verdicts = Object.entries(report.targets).map(([k, ok]) => `${k} ${ok ? 'met' : 'MISSED'}`);
  console.log(`  targets      ${verdicts.join(' · ')}\n  written to ${file}`);
}

main().catch((error: unknown) => {
  console.error('bench:', error);
  process.exit(1);
});
