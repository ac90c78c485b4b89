/**
 * 5. Memory: one worker runs a long stream of noop jobs (fed through the API in batches,
 * never more than 20,000 waiting); its RSS is sampled at five points from the first count to
 * the last, and the last is compared with the first. Also the API's peak RSS over the run.
 */

import type { ChildProcess } from 'node:child_process';
import { processRssMb } from '@conveyor/dev';
import { type Bench, type Figures, sleep } from '../kit.js';

export async function memory(bench: Bench, api: ChildProcess): Promise<Figures & { workerPeakMb: number }> {
  const [first, last] = bench.size.memory;
  const checkpoints = Array.from({ length: 5 }, (_, i) => Math.round(first + ((last - first) * i) / 4));
  await bench.reset();
  const worker = await bench.startWorker();
  let fed = 0;
  const samples: number[] = [];
  for (const target of checkpoints) {
    while ((await bench.rows()) < target) {
      if (fed < target && (await bench.backlog()) < 20_000) {
        const n = Math.min(10_000, target - fed);
        await bench.fill(n);
        fed += n;
      } else await sleep(100);
    }
    samples.push(await processRssMb(worker.pid));
  }
  const workerPeakMb = await processRssMb(worker.pid, 'VmHWM');
  await bench.processes.stop(worker);
  const atFirst = samples[0] ?? 0;
  const atLast = samples.at(-1) ?? 0;
  return {
    apiPeakMb: await processRssMb(api.pid, 'VmHWM'),
    workerPeakMb,
    firstJobs: first,
    lastJobs: last,
    ...Object.fromEntries(samples.map((mb, i) => [`workerRssAt${checkpoints[i]}Mb`, mb])),
    workerRssGrowth: atLast / (atFirst || 1) - 1,
  };
}
