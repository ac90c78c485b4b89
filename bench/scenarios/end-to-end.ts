/**
 * 4. End to end: a steady offered load of single submits over HTTP (e.g. 1,000 jobs/s, sent
 * every 10 ms, over kept-alive connections) through one worker; the latency from sending the
 * submit to receiving the job's `completed` status event, as a subscriber of the tenant's
 * event channel sees it. Also the submit's own latency (send → 202).
 */
import { Agent, request } from 'node:http';
import { eventChannels } from '@conveyor/core/events';
import { Redis } from 'ioredis';
import { type Bench, type Figures, percentile, sleep, waitFor } from '../kit.js';

/** POSTs one submit; resolves with the status and the job id. */
function submit(agent: Agent, url: URL, headers: Record<string, string>, body: string) {
  return new Promise<{ status: number; id: string }>((resolve, reject) => {
    const options = { method: 'POST', agent, headers: { ...headers, 'content-type': 'application/json' } };
    const req = request(url, options, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => {
        const id = res.statusCode === 202 ? (JSON.parse(text) as { id: string }).id : '';
        resolve({ status: res.statusCode ?? 0, id });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

export async function endToEnd(bench: Bench, redisUrl: string, prefix: string): Promise<Figures> {
  const { e2eRate, e2eSeconds } = bench.size;
  await bench.reset();
  const worker = await bench.startWorker();
  const subscriber = new Redis(redisUrl);
  // A job's completed event can arrive before its 202: both orders are matched up.
  const sentAt = new Map<string, number>();
  const completedAt = new Map<string, number>();
  const latencies: number[] = [];
  const submits: number[] = [];
  // The first seconds warm up the fresh worker (JIT, connections) and are not counted.
  const warmUpMs = 2_000;
  let measureFrom = Number.POSITIVE_INFINITY;
  const done = (id: string, sent: number, completed: number) => {
    if (sent >= measureFrom) latencies.push(completed - sent);
    sentAt.delete(id);
    completedAt.delete(id);
  };
  await subscriber.subscribe(eventChannels(prefix).tenant('default'));
  subscriber.on('message', (_channel: string, message: string) => {
    const now = performance.now();
    const event = JSON.parse(message) as { jobId: string; status: string };
    if (event.status !== 'completed') return;
    const sent = sentAt.get(event.jobId);
    if (sent === undefined) completedAt.set(event.jobId, now);
    else done(event.jobId, sent, now);
  });
  // Kept-alive connections, as a client sending 1,000 jobs/s would use.
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const url = new URL(`${bench.apiUrl}/v1/jobs`);
  const body = JSON.stringify({ type: 'noop' });
  const perTick = Math.max(1, Math.round(e2eRate / 100));
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  measureFrom = t0 + warmUpMs;
  const ticks = (e2eSeconds * 1_000 + warmUpMs) / 10;
  for (let tick = 0; tick < ticks; tick++) {
    for (let i = 0; i < perTick; i++) {
      const sent = performance.now();
      pending.push(
        submit(agent, url, bench.auth, body).then(({ status, id }) => {
          if (status !== 202) throw new Error(`end to end: a submit answered ${status}`);
          const answered = performance.now();
          if (sent >= measureFrom) submits.push(answered - sent);
          const completed = completedAt.get(id);
          if (completed === undefined) sentAt.set(id, sent);
          else done(id, sent, completed);
        }),
      );
    }
    await sleep(Math.max(0, t0 + (tick + 1) * 10 - performance.now()));
  }
  const sendSeconds = (performance.now() - measureFrom) / 1_000;
  await Promise.all(pending);
  await waitFor(async () => sentAt.size === 0, 30_000, 'every end-to-end job completing');
  subscriber.disconnect();
  agent.destroy();
  await bench.processes.stop(worker);
  return {
    offeredJobsPerSec: e2eRate,
    sentJobsPerSec: Math.round(submits.length / sendSeconds),
    jobs: latencies.length,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    submitP50Ms: percentile(submits, 50),
    submitP99Ms: percentile(submits, 99),
  };
}
