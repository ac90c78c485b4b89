/**
 * 4. End to end: a steady offered load of single submits over HTTP (e.g. 1,000 jobs/s, sent
 * every 10 ms) through one worker; the latency from sending the submit to receiving the
 * job's `completed` status event, as a subscriber of the tenant's event channel sees it.
 */
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { eventChannels } from '@conveyor/core/events';
import { Redis } from 'ioredis';
import { type Bench, type Figures, percentile, sleep, waitFor } from '../kit.js';

/** POSTs one submit over a kept-alive connection; resolves with the status. */
function submit(agent: Agent, url: URL, headers: Record<string, string>, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', agent, headers: { ...headers, 'content-type': 'application/json' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export async function endToEnd(bench: Bench, redisUrl: string, prefix: string): Promise<Figures> {
  const { e2eRate, e2eSeconds } = bench.size;
  await bench.reset();
  const worker = await bench.startWorker();
  const subscriber = new Redis(redisUrl);
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  await subscriber.subscribe(eventChannels(prefix).tenant('default'));
  subscriber.on('message', (_channel: string, message: string) => {
    const event = JSON.parse(message) as { jobId: string; status: string };
    const t0 = sentAt.get(event.jobId);
    if (event.status === 'completed' && t0 !== undefined) {
      latencies.push(performance.now() - t0);
      sentAt.delete(event.jobId);
    }
  });
  const perTick = Math.max(1, Math.round(e2eRate / 100));
  // Kept-alive connections, as a client sending 1,000 jobs/s would use.
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const url = new URL(`${bench.apiUrl}/v1/jobs`);
  const submits: Promise<unknown>[] = [];
  const t0 = performance.now();
  for (let tick = 0; tick < e2eSeconds * 100; tick++) {
    for (let i = 0; i < perTick; i++) {
      const id = randomUUID();
      sentAt.set(id, performance.now());
      submits.push(
        submit(agent, url, bench.auth, JSON.stringify({ type: 'noop', id })).then((status) => {
          if (status !== 202) throw new Error(`end to end: a submit answered ${status}`);
        }),
      );
    }
    await sleep(Math.max(0, t0 + (tick + 1) * 10 - performance.now()));
  }
  const elapsed = (performance.now() - t0) / 1_000;
  await Promise.all(submits);
  await waitFor(async () => sentAt.size === 0, 30_000, 'every end-to-end job completing');
  subscriber.disconnect();
  agent.destroy();
  await bench.processes.stop(worker);
  return {
    offeredJobsPerSec: e2eRate,
    sentJobsPerSec: Math.round(latencies.length / elapsed),
    jobs: latencies.length,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
}
