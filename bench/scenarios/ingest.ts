/**
 * 1. Ingest: single-job POSTs at fixed concurrency, Conveyor's POST /v1/jobs against a bare
 * Hono route doing queue.add (no validation, auth, idempotency, metrics or logging).
 */

import { freePort } from '@conveyor/dev';
import autocannon from 'autocannon';
import { type Bench, type Figures, median, waitFor } from '../kit.js';

async function load(url: string, body: string, headers: Record<string, string>, bench: Bench) {
  const result = await autocannon({
    url,
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...headers },
    connections: bench.size.connections,
    duration: bench.size.seconds,
  });
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`ingest: ${result.non2xx} non-2xx answers and ${result.errors} errors from ${url}`);
  }
  return result;
}

export async function ingest(bench: Bench): Promise<Figures> {
  const port = await freePort();
  const baseline = bench.processes.start(['--import', 'tsx', 'bench/baselines/ingest-server.ts'], {
    PORT: String(port),
  });
  const baseUrl = `http://127.0.0.1:${port}/jobs`;
  await waitFor(
    async () =>
      (await fetch(baseUrl, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } }))
        .ok,
    20_000,
    'the baseline server answering',
  );
  const runs = {
    base: [] as number[],
    conveyor: [] as number[],
    baseP99: [] as number[],
    p50: [] as number[],
    p99: [] as number[],
  };
  // Warm both up (JIT, connection pools) before measuring.
  await load(baseUrl, '{}', {}, { ...bench, size: { ...bench.size, seconds: 1 } });
  await load(`${bench.apiUrl}/v1/jobs`, '{"type":"noop"}', bench.auth, {
    ...bench,
    size: { ...bench.size, seconds: 1 },
  });
  for (let rep = 0; rep < bench.size.reps; rep++) {
    await bench.reset();
    const b = await load(baseUrl, '{}', {}, bench);
    await bench.reset();
    const c = await load(`${bench.apiUrl}/v1/jobs`, '{"type":"noop"}', bench.auth, bench);
    runs.base.push(b.requests.average);
    runs.baseP99.push(b.latency.p99);
    runs.conveyor.push(c.requests.average);
    runs.p50.push(c.latency.p50);
    runs.p99.push(c.latency.p99);
  }
  await bench.processes.stop(baseline);
  return {
    baselineReqPerSec: median(runs.base),
    conveyorReqPerSec: median(runs.conveyor),
    ratio: median(runs.conveyor) / median(runs.base),
    baselineP99Ms: median(runs.baseP99),
    conveyorP50Ms: median(runs.p50),
    conveyorP99Ms: median(runs.p99),
  };
}
