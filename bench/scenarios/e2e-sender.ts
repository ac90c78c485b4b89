/**
 * The end-to-end scenario's load generator, in a process of its own so that its sending does
 * not delay the timestamps the recorder takes. Sends single submits at a fixed rate (every
 * 10 ms, kept-alive HTTP) and writes, per submit, the job id, when it was sent and when its
 * answer came (epoch ms, comparable across processes), plus its own event-loop delay.
 *
 * Usage (from the scenario): node --import tsx bench/scenarios/e2e-sender.ts '<json options>'
 */
import { writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';

interface SenderOptions {
  url: string;
  headers: Record<string, string>;
  rate: number;
  /** How long to send, warm-up included. */
  ms: number;
  out: string;
}

export interface SentJob {
  id: string;
  status: number;
  sentAt: number;
  answeredAt: number;
}

export interface SenderReport {
  jobs: SentJob[];
  /** The sender's own event-loop delay: how late its sends could be. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function submit(agent: Agent, url: URL, headers: Record<string, string>, body: string, jobs: SentJob[]) {
  return new Promise<void>((resolve, reject) => {
    const sentAt = now();
    const options = { method: 'POST', agent, headers: { ...headers, 'content-type': 'application/json' } };
    const req = request(url, options, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const id = status === 202 ? (JSON.parse(text) as { id: string }).id : '';
        jobs.push({ id, status, sentAt, answeredAt: now() });
        resolve();
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function main(options: SenderOptions): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const url = new URL(options.url);
  const body = JSON.stringify({ type: 'noop' });
  const perTick = Math.max(1, Math.round(options.rate / 100));
  const jobs: SentJob[] = [];
  const pending: Promise<void>[] = [];
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const t0 = performance.now();
  for (let tick = 0; tick < options.ms / 10; tick++) {
    for (let i = 0; i < perTick; i++) pending.push(submit(agent, url, options.headers, body, jobs));
    await sleep(Math.max(0, t0 + (tick + 1) * 10 - performance.now()));
  }
  await Promise.all(pending);
  loop.disable();
  agent.destroy();
  const report: SenderReport = {
    jobs,
    loopDelayP99Ms: loop.percentile(99) / 1e6,
    loopDelayMaxMs: loop.max / 1e6,
  };
  writeFileSync(options.out, JSON.stringify(report));
}

main(JSON.parse(process.argv[2] ?? '{}') as SenderOptions).catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
