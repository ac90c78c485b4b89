/**
 * 4. End to end: a steady offered load of single submits over HTTP (e.g. 1,000 jobs/s, sent
 * every 10 ms, over kept-alive connections) through one worker; the latency from sending the
 * submit to receiving the job's `completed` status event, as a subscriber of the tenant's
 * event channel sees it. Also the submit's own latency (send → 202).
 *
 * The load generator runs in a process of its own (e2e-sender.ts), so its sends do not delay
 * the recorder's timestamps; both use epoch time (comparable across processes on one machine)
 * and both report their own event-loop delay. Each repetition is reported, then the median.
 * For the slowest 1% of jobs the latency is split into its parts (submit, until the `active`
 * event, `active` to `completed`), next to the API's and the worker's event-loop lag and GC
 * pauses over the run (their /metrics), to name where a tail comes from.
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { eventChannels } from '@conveyor/core/events';
import { freePort } from '@conveyor/dev';
import { Redis } from 'ioredis';
import { type Bench, type Figures, median, percentile, root, waitFor } from '../kit.js';
import type { SenderReport } from './e2e-sender.js';

const now = () => performance.timeOrigin + performance.now();
/**
 * The first seconds warm up the fresh worker and, on the first repetition, the API (JIT,
 * connections) and are not counted: a cold process's first seconds at 1,000 submits/s put
 * a backlog of several hundred ms on its first 1–2 s of measured jobs (docs/performance.md).
 */
const WARM_UP_MS = 5_000;

/** The event-loop lag and GC figures of a process's /metrics (prom-client's defaults). */
async function processFigures(url: string): Promise<{ lagMaxMs: number; gcMs: number; gcOver100Ms: number }> {
  const text = await (await fetch(url)).text();
  const value = (pattern: RegExp) =>
    text
      .split('\n')
      .filter((line) => pattern.test(line))
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
  return {
    lagMaxMs: value(/^nodejs_eventloop_lag_max_seconds /) * 1_000,
    gcMs: value(/^nodejs_gc_duration_seconds_sum/) * 1_000,
    gcOver100Ms:
      value(/^nodejs_gc_duration_seconds_count/) - value(/^nodejs_gc_duration_seconds_bucket\{le="0.1"/),
  };
}

async function oneRun(bench: Bench, redisUrl: string, prefix: string, rep: number): Promise<Figures> {
  const { e2eRate, e2eSeconds } = bench.size;
  await bench.reset();
  const workerPort = await freePort();
  const worker = await bench.startWorker({ WORKER_PORT: String(workerPort) });
  const workerMetrics = `http://127.0.0.1:${workerPort}/metrics`;
  const apiMetrics = `${bench.apiUrl}/metrics`;
  const subscriber = new Redis(redisUrl);
  const activeAt = new Map<string, number>();
  const completedAt = new Map<string, number>();
  await subscriber.subscribe(eventChannels(prefix).tenant('default'));
  subscriber.on('message', (_channel: string, message: string) => {
    const at = now();
    const event = JSON.parse(message) as { jobId: string; status: string };
    if (event.status === 'active' && !activeAt.has(event.jobId)) activeAt.set(event.jobId, at);
    else if (event.status === 'completed') completedAt.set(event.jobId, at);
  });
  // Scraping resets prom-client's event-loop lag window: the second scrape covers the run.
  const [workerBefore, apiBefore] = await Promise.all([
    processFigures(workerMetrics),
    processFigures(apiMetrics),
  ]);
  const recorderLoop = monitorEventLoopDelay({ resolution: 1 });
  recorderLoop.enable();
  const out = join(tmpdir(), `conveyor-e2e-${process.pid}-${rep}.json`);
  const startedAt = now();
  const sender = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'bench/scenarios/e2e-sender.ts',
      JSON.stringify({
        url: `${bench.apiUrl}/v1/jobs`,
        headers: bench.auth,
        rate: e2eRate,
        ms: e2eSeconds * 1_000 + WARM_UP_MS,
        out,
      }),
    ],
    { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const code = await new Promise<number | null>((resolve) => sender.once('exit', resolve));
  if (code !== 0) throw new Error(`end to end: the load generator exited with ${code}`);
  const report = JSON.parse(readFileSync(out, 'utf8')) as SenderReport;
  rmSync(out, { force: true });
  const refused = report.jobs.filter((job) => job.status !== 202);
  if (refused.length > 0) throw new Error(`end to end: a submit answered ${refused[0]?.status}`);
  await waitFor(
    async () => report.jobs.every((job) => completedAt.has(job.id)),
    30_000,
    'every end-to-end job completing',
  );
  recorderLoop.disable();
  const [workerAfter, apiAfter] = await Promise.all([
    processFigures(workerMetrics),
    processFigures(apiMetrics),
  ]);
  subscriber.disconnect();
  await bench.processes.stop(worker);

  const measured = report.jobs.filter((job) => job.sentAt >= startedAt + WARM_UP_MS);
  const parts = measured.map((job) => {
    const completed = completedAt.get(job.id) ?? Number.NaN;
    const active = activeAt.get(job.id) ?? completed;
    return {
      total: completed - job.sentAt,
      submit: job.answeredAt - job.sentAt,
      toActive: active - job.sentAt,
      activeToCompleted: completed - active,
    };
  });
  // BENCH_E2E_DUMP=<dir>: every measured job's timings, to look at a tail in time.
  const dump = process.env.BENCH_E2E_DUMP;
  if (dump) {
    const rows = measured.map((job, i) => ({ atMs: Math.round(job.sentAt - startedAt), ...parts[i] }));
    writeFileSync(join(dump, `e2e-rep-${rep + 1}.json`), JSON.stringify(rows));
  }
  const totals = parts.map((p) => p.total);
  const submits = parts.map((p) => p.submit);
  const p99 = percentile(totals, 99);
  const tail = parts.filter((p) => p.total >= p99);
  const lastSent = Math.max(...measured.map((job) => job.sentAt));
  const figures: Figures = {
    sentJobsPerSec: Math.round(measured.length / ((lastSent - startedAt - WARM_UP_MS) / 1_000)),
    jobs: measured.length,
    p50Ms: percentile(totals, 50),
    p99Ms: p99,
    submitP50Ms: percentile(submits, 50),
    submitP99Ms: percentile(submits, 99),
    tailSubmitMs: median(tail.map((p) => p.submit)),
    tailToActiveMs: median(tail.map((p) => p.toActive)),
    tailActiveToCompletedMs: median(tail.map((p) => p.activeToCompleted)),
    senderLoopDelayMaxMs: report.loopDelayMaxMs,
    recorderLoopDelayMaxMs: recorderLoop.max / 1e6,
    apiLoopLagMaxMs: apiAfter.lagMaxMs,
    workerLoopLagMaxMs: workerAfter.lagMaxMs,
    apiGcMs: apiAfter.gcMs - apiBefore.gcMs,
    workerGcMs: workerAfter.gcMs - workerBefore.gcMs,
    gcPausesOver100Ms:
      apiAfter.gcOver100Ms - apiBefore.gcOver100Ms + workerAfter.gcOver100Ms - workerBefore.gcOver100Ms,
  };
  process.stderr.write(
    `bench: endToEnd rep ${rep + 1}: ${Object.entries(figures)
      .map(([k, v]) => `${k} ${Math.round(v * 10) / 10}`)
      .join(' · ')}\n`,
  );
  return figures;
}

export async function endToEnd(bench: Bench, redisUrl: string, prefix: string): Promise<Figures> {
  const runs: Figures[] = [];
  for (let rep = 0; rep < bench.size.reps; rep++) runs.push(await oneRun(bench, redisUrl, prefix, rep));
  const p99s = runs.map((r) => r.p99Ms ?? Number.NaN);
  // The median repetition (by p99) gives the tail's parts; every figure is that run's.
  const middle = [...runs].sort((a, b) => (a.p99Ms ?? 0) - (b.p99Ms ?? 0))[Math.floor(runs.length / 2)] ?? {};
  return {
    offeredJobsPerSec: bench.size.e2eRate,
    ...middle,
    p50Ms: median(runs.map((r) => r.p50Ms ?? Number.NaN)),
    p99Ms: median(p99s),
    p99MinMs: Math.min(...p99s),
    p99MaxMs: Math.max(...p99s),
  };
}
