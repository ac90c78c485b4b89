/**
 * `npm run bench`: Conveyor against raw BullMQ baselines, measured in the same run on the
 * same Redis and Postgres. `npm run bench:smoke` runs tiny sizes (CI proves it works).
 * Prints a table and writes bench/results/<time>.json.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createTemplateDatabase, createTestDatabase, freePort, resolveServices } from '@conveyor/dev';
import autocannon from 'autocannon';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import postgres from 'postgres';

const root = fileURLToPath(new URL('..', import.meta.url));
const smoke = process.argv.includes('--smoke') || process.env.BENCH_SMOKE === '1';
const size = smoke
  ? {
      reps: 1,
      seconds: 1,
      connections: 20,
      batches: 2,
      drain: 2_000,
      e2eRate: 200,
      e2eSeconds: 2,
      memory: [2_000, 6_000],
    }
  : {
      reps: 3,
      seconds: 5,
      connections: 50,
      batches: 20,
      drain: 50_000,
      e2eRate: 1_000,
      e2eSeconds: 10,
      memory: [100_000, 500_000],
    };
const key = `cvk_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] ?? 0;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function rssMb(pid: number | undefined, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Math.round(Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024);
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(25);
  }
  throw new Error(`bench: ${what} did not happen within ${timeoutMs} ms`);
}

async function main(): Promise<void> {
  const services = await resolveServices({ env: process.env, dataDir: `${root}.data/bench-pg` });
  const template = `conveyor_bench_tpl_${process.pid}`;
  await createTemplateDatabase(services.databaseUrl, template);
  const db = await createTestDatabase(services.databaseUrl, template);
  const sql = postgres(db.url, { max: 2, onnotice: () => {} });
  const prefix = `bench-${randomBytes(3).toString('hex')}`;
  const redis = new Redis(services.redisUrl, { maxRetriesPerRequest: null, enableAutoPipelining: true });
  const queue = new Queue('default', { connection: redis, prefix });
  const children: ChildProcess[] = [];
  const env = {
    ...process.env,
    REDIS_URL: services.redisUrl,
    DATABASE_URL: db.url,
    QUEUE_PREFIX: prefix,
    BOOTSTRAP_ADMIN_KEY: key,
    RATE_LIMIT_PER_SECOND: '0',
    TENANT_MAX_IN_FLIGHT: '0',
    LOG_LEVEL: 'warn',
  };
  const start = (args: string[], extra: Record<string, string> = {}) => {
    const child = spawn(process.execPath, args, {
      cwd: root,
      env: { ...env, ...extra },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    return child;
  };
  const stop = async (child: ChildProcess) => {
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  const reset = async () => {
    await queue.obliterate({ force: true }).catch(() => {});
    await sql`truncate jobs`;
  };
  const results: Record<string, Record<string, number>> = {};

  // 1. ingest ---------------------------------------------------------------------------
  const load = async (url: string, body: string, headers: Record<string, string>) => {
    const r = await autocannon({
      url,
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...headers },
      connections: size.connections,
      duration: size.seconds,
    });
    if (r.non2xx > 0) throw new Error(`bench: ${r.non2xx} non-2xx answers from ${url}`);
    return r;
  };
  const basePort = await freePort();
  const baseline = start(['--import', 'tsx', 'bench/baseline-ingest.ts'], { PORT: String(basePort) });
  await waitFor(
    async () =>
      (
        await fetch(`http://127.0.0.1:${basePort}/jobs`, {
          method: 'POST',
          body: '{}',
          headers: { 'content-type': 'application/json' },
        })
      ).ok,
    20_000,
    'baseline server',
  );
  const apiPort = await freePort();
  const api = start(['--enable-source-maps', 'apps/api/dist/main.js'], {
    PORT: String(apiPort),
    HOST: '127.0.0.1',
  });
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  await waitFor(async () => (await fetch(`${apiUrl}/health/ready`)).ok, 20_000, 'API ready');
  const auth = { authorization: `Bearer ${key}` };
  const ingest = {
    base: [] as number[],
    conveyor: [] as number[],
    baseP99: [] as number[],
    conveyorP99: [] as number[],
    conveyorP50: [] as number[],
  };
  for (let rep = 0; rep < size.reps; rep++) {
    await reset();
    const b = await load(`http://127.0.0.1:${basePort}/jobs`, '{}', {});
    await reset();
    const c = await load(`${apiUrl}/v1/jobs`, '{"type":"noop"}', auth);
    ingest.base.push(b.requests.average);
    ingest.conveyor.push(c.requests.average);
    ingest.baseP99.push(b.latency.p99);
    ingest.conveyorP99.push(c.latency.p99);
    ingest.conveyorP50.push(c.latency.p50);
  }
  await stop(baseline);
  results.ingest = {
    baselineReqPerSec: median(ingest.base),
    conveyorReqPerSec: median(ingest.conveyor),
    ratio: median(ingest.conveyor) / median(ingest.base),
    baselineP99Ms: median(ingest.baseP99),
    conveyorP50Ms: median(ingest.conveyorP50),
    conveyorP99Ms: median(ingest.conveyorP99),
  };

  // 2. batch ingest ---------------------------------------------------------------------
  const batchRuns = { base: [] as number[], conveyor: [] as number[] };
  const thousand = Array.from({ length: 1_000 }, () => ({ type: 'noop' }));
  for (let rep = 0; rep < size.reps; rep++) {
    await reset();
    let t0 = performance.now();
    for (let i = 0; i < size.batches; i++)
      await queue.addBulk(thousand.map(() => ({ name: 'noop', data: {}, opts: { removeOnComplete: true } })));
    batchRuns.base.push((size.batches * 1_000) / ((performance.now() - t0) / 1_000));
    await reset();
    t0 = performance.now();
    for (let i = 0; i < size.batches; i++) {
      const r = await fetch(`${apiUrl}/v1/jobs/batch`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ jobs: thousand }),
      });
      if (r.status !== 202) throw new Error(`bench: batch answered ${r.status}`);
    }
    batchRuns.conveyor.push((size.batches * 1_000) / ((performance.now() - t0) / 1_000));
  }
  results.batchIngest = {
    baselineJobsPerSec: median(batchRuns.base),
    conveyorJobsPerSec: median(batchRuns.conveyor),
    ratio: median(batchRuns.conveyor) / median(batchRuns.base),
  };

  // 3. drain ----------------------------------------------------------------------------
  const fill = async (n: number) => {
    for (let done = 0; done < n; done += 1_000) {
      const count = Math.min(1_000, n - done);
      const r = await fetch(`${apiUrl}/v1/jobs/batch`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ jobs: thousand.slice(0, count) }),
      });
      if (r.status !== 202) throw new Error(`bench: batch answered ${r.status}`);
    }
  };
  const backlog = async () => {
    const c = await queue.getJobCounts('wait', 'prioritized', 'active');
    return (c.wait ?? 0) + (c.prioritized ?? 0) + (c.active ?? 0);
  };
  const rows = async () => (await sql<{ n: number }[]>`select count(*)::int as n from jobs`)[0]?.n ?? 0;
  const drainRuns = { base: [] as number[], conveyor: [] as number[] };
  let workerPeak = 0;
  for (let rep = 0; rep < size.reps; rep++) {
    for (const kind of ['base', 'conveyor'] as const) {
      await reset();
      await fill(size.drain);
      await queue.pause();
      const port = await freePort();
      const worker =
        kind === 'base'
          ? start(['--import', 'tsx', 'bench/baseline-worker.ts'])
          : start(['--enable-source-maps', 'apps/worker/dist/main.js'], { WORKER_PORT: String(port) });
      await sleep(1_500); // connected and blocked on the paused queue
      const t0 = performance.now();
      await queue.resume();
      if (kind === 'base') await waitFor(async () => (await backlog()) === 0, 600_000, 'baseline drain');
      else await waitFor(async () => (await rows()) >= size.drain, 600_000, 'Conveyor drain');
      drainRuns[kind].push(size.drain / ((performance.now() - t0) / 1_000));
      if (kind === 'conveyor') workerPeak = Math.max(workerPeak, await rssMb(worker.pid, 'VmHWM'));
      await stop(worker);
    }
  }
  results.drain = {
    jobs: size.drain,
    baselineJobsPerSec: median(drainRuns.base),
    conveyorJobsPerSec: median(drainRuns.conveyor),
    ratio: median(drainRuns.conveyor) / median(drainRuns.base),
  };

  // 4. end to end at a steady offered load ----------------------------------------------
  await reset();
  const worker = start(['--enable-source-maps', 'apps/worker/dist/main.js'], {
    WORKER_PORT: String(await freePort()),
  });
  await sleep(1_500);
  const subscriber = new Redis(services.redisUrl);
  const started = new Map<string, number>();
  const latencies: number[] = [];
  await subscriber.subscribe(`${prefix}:events:tenant:default`);
  subscriber.on('message', (_channel: string, message: string) => {
    const event = JSON.parse(message) as { jobId: string; status: string };
    const t0 = started.get(event.jobId);
    if (event.status === 'completed' && t0 !== undefined) {
      latencies.push(performance.now() - t0);
      started.delete(event.jobId);
    }
  });
  const perTick = size.e2eRate / 100;
  const ticks = size.e2eSeconds * 100;
  const inflight: Promise<unknown>[] = [];
  const t0 = performance.now();
  for (let tick = 0; tick < ticks; tick++) {
    for (let i = 0; i < perTick; i++) {
      const id = randomUUID();
      started.set(id, performance.now());
      inflight.push(
        fetch(`${apiUrl}/v1/jobs`, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify({ type: 'noop', id }),
        }),
      );
    }
    const next = t0 + (tick + 1) * 10;
    await sleep(Math.max(0, next - performance.now()));
  }
  await Promise.all(inflight);
  await waitFor(async () => started.size === 0, 30_000, 'every e2e job completed');
  results.endToEnd = {
    offeredJobsPerSec: size.e2eRate,
    jobs: latencies.length,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
  subscriber.disconnect();

  // 5. memory ---------------------------------------------------------------------------
  const [first, last] = size.memory as [number, number];
  let fed = 0;
  const samples: number[] = [];
  await reset();
  for (const target of [first, last]) {
    while ((await rows()) < target) {
      if (fed < target && (await backlog()) < 20_000) {
        const n = Math.min(10_000, target - fed);
        await fill(n);
        fed += n;
      } else await sleep(100);
    }
    samples.push(await rssMb(worker.pid));
  }
  results.memory = {
    apiPeakMb: await rssMb(api.pid, 'VmHWM'),
    workerPeakMb: Math.max(workerPeak, await rssMb(worker.pid, 'VmHWM')),
    [`workerRssAfter${first}Mb`]: samples[0] ?? 0,
    [`workerRssAfter${last}Mb`]: samples[1] ?? 0,
    workerRssGrowth: (samples[1] ?? 0) / (samples[0] || 1) - 1,
  };

  for (const child of children) await stop(child);
  await queue.close();
  redis.disconnect();
  await sql.end();
  await db.drop();
  await services.stop();

  const targets = {
    ingest: (results.ingest?.ratio ?? 0) >= 0.8,
    batchIngest: (results.batchIngest?.ratio ?? 0) >= 0.8,
    drain: (results.drain?.ratio ?? 0) >= 0.7,
    endToEndP99: (results.endToEnd?.p99Ms ?? Number.POSITIVE_INFINITY) <= 25,
    workerRssFlat: Math.abs(results.memory?.workerRssGrowth ?? 1) <= 0.1,
  };
  const report = {
    at: new Date().toISOString(),
    mode: smoke ? 'smoke' : 'full',
    cores: cpus().length,
    node: process.version,
    results,
    targets,
  };
  await mkdir(`${root}bench/results`, { recursive: true });
  const file = `${root}bench/results/${report.at.replace(/[:.]/g, '-')}.json`;
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(
    `\nConveyor benchmark (${report.mode}, ${report.cores} cores, Node ${report.node}), medians of ${size.reps}:`,
  );
  for (const [scenario, figures] of Object.entries(results)) {
    console.log(
      `  ${scenario.padEnd(12)} ${Object.entries(figures)
        .map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(2)}`)
        .join(' · ')}`,
    );
  }
  console.log(
    `  targets      ${Object.entries(targets)
      .map(([k, ok]) => `${k} ${ok ? 'met' : 'MISSED'}`)
      .join(' · ')}`,
  );
  console.log(`  written to ${file}`);
}

main().catch((error: unknown) => {
  console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
