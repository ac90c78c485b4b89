/**
 * 5. Memory: one worker runs a long stream of noop jobs (fed through the API in batches,
 * never more than 20,000 waiting); its RSS after the first and the last count is compared.
 * Also the API's peak RSS over the whole run.
 */
import type { ChildProcess } from 'node:child_process';
import { type Bench, type Figures, rssMb, sleep } from '../kit.js';

export async function memory(bench: Bench, api: ChildProcess): Promise<Figures & { workerPeakMb: number }> {
  const [first, last] = bench.size.memory;
  await bench.reset();
  const worker = await bench.startWorker();
  let fed = 0;
  const samples: number[] = [];
  for (const target of [first, last]) {
    while ((await bench.rows()) < target) {
      if (fed < target && (await bench.backlog()) < 20_000) {
        const n = Math.min(10_000, target - fed);
        await bench.fill(n);
        fed += n;
      } else await sleep(100);
    }
    samples.push(await rssMb(worker.pid));
  }
  const workerPeakMb = await rssMb(worker.pid, 'VmHWM');
  await bench.processes.stop(worker);
  const [atFirst = 0, atLast = 0] = samples;
  return {
    apiPeakMb: await rssMb(api.pid, 'VmHWM'),
    workerPeakMb,
    workerRssFirstMb: atFirst,
    workerRssLastMb: atLast,
    firstJobs: first,
    lastJobs: last,
    workerRssGrowth: atLast / (atFirst || 1) - 1,
  };
}
