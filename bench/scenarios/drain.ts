/**
 * 3. Drain: N pre-enqueued noop jobs processed by one Conveyor worker to durable Postgres
 * rows, against one raw BullMQ Worker with a no-op processor (same concurrency). The queue
 * is paused while the worker starts, so only processing is timed. Then the same drain by two
 * Conveyor worker processes (each at the same concurrency): how close to linear a second
 * process gets before Redis (or, on a small machine, the cores) is the limit.
 */
import { processRssMb } from '@conveyor/dev';
import { type Bench, type Figures, median, sleep, waitFor } from '../kit.js';

export async function drain(bench: Bench): Promise<Figures & { workerPeakMb: number }> {
  const { drain: n, reps } = bench.size;
  const runs = { base: [] as number[], conveyor: [] as number[], two: [] as number[] };
  let workerPeakMb = 0;
  for (let rep = 0; rep < reps; rep++) {
    for (const kind of ['base', 'conveyor', 'two'] as const) {
      await bench.reset();
      await bench.fill(n);
      await bench.queue.pause();
      const concurrency = String(bench.size.concurrency);
      const workers =
        kind === 'base'
          ? [
              bench.processes.start(['--import', 'tsx', 'bench/baselines/worker.ts'], {
                CONCURRENCY: concurrency,
              }),
            ]
          : await Promise.all(
              Array.from({ length: kind === 'two' ? 2 : 1 }, () =>
                bench.startWorker({ WORKER_CONCURRENCY: concurrency }),
              ),
            );
      await sleep(1_500); // connected, and blocked on the paused queue
      const t0 = performance.now();
      await bench.queue.resume();
      if (kind === 'base')
        await waitFor(async () => (await bench.backlog()) === 0, 600_000, 'the baseline drain');
      else await waitFor(async () => (await bench.rows()) >= n, 600_000, 'the Conveyor drain');
      runs[kind].push(n / ((performance.now() - t0) / 1_000));
      const [worker] = workers;
      if (kind === 'conveyor' && worker)
        workerPeakMb = Math.max(workerPeakMb, await processRssMb(worker.pid, 'VmHWM'));
      await Promise.all(workers.map((w) => bench.processes.stop(w)));
    }
  }
  return {
    jobs: n,
    concurrency: bench.size.concurrency,
    baselineJobsPerSec: median(runs.base),
    conveyorJobsPerSec: median(runs.conveyor),
    ratio: median(runs.conveyor) / median(runs.base),
    twoWorkersJobsPerSec: median(runs.two),
    twoWorkersVsOne: median(runs.two) / median(runs.conveyor),
    workerPeakMb,
  };
}
