/** 2. Batch ingest: POST /v1/jobs/batch of 1,000 jobs against queue.addBulk of 1,000. */
import { type Bench, type Figures, median, post } from '../kit.js';

export async function batchIngest(bench: Bench): Promise<Figures> {
  const { batches, reps } = bench.size;
  const jobs = Array.from({ length: 1_000 }, () => ({ type: 'noop' }));
  const runs = { base: [] as number[], conveyor: [] as number[] };
  for (let rep = 0; rep < reps; rep++) {
    await bench.reset();
    let t0 = performance.now();
    for (let i = 0; i < batches; i++) {
      await bench.queue.addBulk(
        jobs.map(() => ({ name: 'noop', data: {}, opts: { removeOnComplete: true } })),
      );
    }
    runs.base.push((batches * 1_000) / ((performance.now() - t0) / 1_000));
    await bench.reset();
    t0 = performance.now();
    for (let i = 0; i < batches; i++) await post(`${bench.apiUrl}/v1/jobs/batch`, bench.auth, { jobs });
    runs.conveyor.push((batches * 1_000) / ((performance.now() - t0) / 1_000));
  }
  return {
    baselineJobsPerSec: median(runs.base),
    conveyorJobsPerSec: median(runs.conveyor),
    ratio: median(runs.conveyor) / median(runs.base),
  };
}
