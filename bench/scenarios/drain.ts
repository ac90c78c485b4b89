/**
 * 3. Drain: N pre-enqueued noop jobs processed by one Conveyor worker to durable Postgres
 * rows, against one raw BullMQ Worker with a no-op processor (same concurrency). The queue
 * is paused while the worker starts, so only processing is timed.
 */
import { processRssMb } from '@conveyor/dev';
import { type Bench, type Figures, median, sleep, waitFor } from '../kit.js';

export async function drain(bench: Bench): Promise<Figures & { workerPeakMb: number }> {
  const { drain: n, reps } = bench.size;
  const runs = { base: [] as number[], conveyor: [] as number[] };
  let workerPeakMb = 0;
  for (let rep = 0; rep < reps; rep++) {
    for (const kind of ['base', 'conveyor'] as const) {
      await bench.reset();
      await bench.fill(n);
      await bench.queue.pause();
      const concurrency = String(bench.size.concurrency);
      const worker =
        kind === 'base'
          ? bench.processes.start(['--import', 'tsx', 'bench/baselines/worker.ts'], {
              CONCURRENCY: concurrency,
            })
          : await bench.startWorker({ WORKER_CONCURRENCY: concurrency });
      await sleep(1_500); // connected, and blocked on the paused queue
      const t0 = performance.now();
      await bench.queue.resume();
      if (kind === 'base')
        await waitFor(async () => (await bench.backlog()) === 0, 600_000, 'the baseline drain');
      else await waitFor(async () => (await bench.rows()) >= n, 600_000, 'the Conveyor drain');
      runs[kind].push(n / ((performance.now() - t0) / 1_000));
      if (kind === 'conveyor') workerPeakMb = Math.max(workerPeakMb, await processRssMb(worker.pid, 'VmHWM'));
      await bench.processes.stop(worker);
    }
  }
  return {
    jobs: n,
    concurrency: bench.size.concurrency,
    baselineJobsPerSec: median(runs.base),
    conveyorJobsPerSec: median(runs.conveyor),
    ratio: median(runs.conveyor) / median(runs.base),
    workerPeakMb,
  };
}
