import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createDatabase } from '@conveyor/core/db';
import { createRedis } from '@conveyor/core/redis';
import { freePort, type RedisClusterHandle, startRedisCluster } from '@conveyor/dev';
import { useTestServices } from '@conveyor/dev/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppProcess, authHeaders, startApp, stopApp, TEST_API_KEY, waitForOk } from './processes.js';
import { openSocket } from './ws-client.js';

/**
 * Conveyor on a real Redis Cluster of three masters, started here on free ports: the stock
 * API and a worker configured with REDIS_CLUSTER_NODES, queues hash-tagged apart.
 */
const services = useTestServices();
let cluster: RedisClusterHandle;
let api: AppProcess;
let worker: AppProcess;
let base: string;
let workerHealth: string;
let receiver: Server;
let receiverUrl: string;
const received: string[] = [];
const started: AppProcess[] = [];

function clusterEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    REDIS_URL: '',
    REDIS_CLUSTER_NODES: cluster.seeds,
    DATABASE_URL: services.databaseUrl,
    QUEUE_PREFIX: services.prefix,
    HTTP_ALLOWLIST: '127.0.0.1',
    ...extra,
  };
}

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
  receiver = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', () => {
      received.push(`${request.url} ${body}`);
      response.end('ok');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  const workerPort = await freePort();
  worker = startApp('worker', clusterEnv({ WORKER_PORT: String(workerPort) }));
  started.push(worker);
  workerHealth = `http://127.0.0.1:${workerPort}/health/ready`;
  await waitForOk(workerHealth, 30_000);
  const port = await freePort();
  api = startApp('api', clusterEnv({ PORT: String(port), HOST: '127.0.0.1', RATE_LIMIT_PER_SECOND: '0' }));
  started.push(api);
  base = `http://127.0.0.1:${port}`;
  await waitForOk(`${base}/health/ready`, 30_000);
}, 90_000);

afterAll(async () => {
  await Promise.all(started.map((app) => stopApp(app)));
  await new Promise((resolve) => receiver?.close(resolve));
  await cluster?.stop();
});

async function submit(body: Record<string, unknown>): Promise<string> {
  const response = await fetch(`${base}/v1/jobs`, {
    method: 'POST',
    headers: authHeaders({ 'content-type': 'application/json' }),
    body: JSON.stringify(body),
  });
  expect(response.status, await response.clone().text()).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

interface JobView {
  status: string;
  queue: string;
  result?: unknown;
  error?: { code: string };
}

async function waitForJob(id: string, status: string, timeoutMs = 20_000): Promise<JobView> {
  const deadline = Date.now() + timeoutMs;
  let last: JobView | undefined;
  while (Date.now() < deadline) {
    const response = await fetch(`${base}/v1/jobs/${id}`, { headers: authHeaders() });
    if (response.status === 200) {
      last = (await response.json()) as JobView;
      if (last.status === status) return last;
    }
    await sleep(100);
  }
  throw new Error(`job ${id} not ${status} within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
}

/** Reads an SSE response until its text holds `needle` (or the stream ends): the text read. */
async function readUntil(response: Response, needle: string): Promise<string> {
  expect(response.status).toBe(200);
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    while (!text.includes(needle)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return text;
}

/** The SSE stream of a job, read until an event with `status` arrives. */
async function streamUntil(id: string, status: string, timeoutMs = 20_000): Promise<string> {
  const response = await fetch(`${base}/v1/jobs/${id}/events`, {
    headers: authHeaders(),
    signal: AbortSignal.timeout(timeoutMs),
  });
  return readUntil(response, `"status":"${status}"`);
}

/** The master that holds `key`, by asking it directly (no cluster routing). */
async function holder(key: string): Promise<number> {
  const node = await cluster.nodeFor(key);
  const direct = new Redis(node.url);
  try {
    expect(await direct.exists(key)).toBe(1);
    return node.port;
  } finally {
    direct.disconnect();
  }
}

describe('on a Redis Cluster of three masters', () => {
  it('runs jobs of several queues to their rows, events and webhooks, each queue under its own hash tag', async () => {
    const slow = await submit({ type: 'sleep', data: { ms: 600 } });
    const stream = streamUntil(slow, 'completed');
    const echo = await submit({
      type: 'echo',
      data: { hello: 'cluster' },
      callbackUrl: `${receiverUrl}/done`,
    });
    const http = await submit({
      type: 'http.request',
      data: { url: `${receiverUrl}/called`, method: 'POST', body: 'x' },
    });
    expect((await waitForJob(echo, 'completed')).result).toEqual({ hello: 'cluster' });
    const called = await waitForJob(http, 'completed');
    expect(called.queue).toBe('http');
    const events = await stream;
    // Snapshot first, then the live transitions, over sharded pub/sub.
    expect(events).toMatch(/"status":"(queued|active)"/);
    expect(events).toContain('"status":"completed"');
    await expect.poll(() => received.some((r) => r.startsWith('/called x')), { timeout: 10_000 }).toBe(true);
    await expect.poll(() => received.some((r) => r.startsWith('/done ')), { timeout: 10_000 }).toBe(true);

    // Each queue's keys carry its own hash tag, and they are spread over the masters.
    const queues = ['default', 'http', 'callbacks', 'schedules'];
    const ports = await Promise.all(queues.map((q) => holder(`${services.prefix}:{${q}}:${q}:meta`)));
    expect(new Set(ports).size).toBeGreaterThanOrEqual(2);
  });

  it('cancels a running job from the API, whichever node the worker listens on', async () => {
    const id = await submit({ type: 'sleep', data: { ms: 30_000 } });
    await waitForJob(id, 'active');
    const response = await fetch(`${base}/v1/jobs/${id}/cancel`, { method: 'POST', headers: authHeaders() });
    expect([200, 202], await response.clone().text()).toContain(response.status);
    const view = await waitForJob(id, 'cancelled', 10_000);
    expect(view.status).toBe('cancelled');
    // The worker heard the broadcast and stopped the handler: BullMQ's active list empties
    // long before the 30 s sleep would have ended.
    const redis = createRedis({ cluster: cluster.nodes.map((node) => node.url) }, 'worker');
    try {
      await expect
        .poll(() => redis.llen(`${services.prefix}:{default}:default:active`), { timeout: 5_000 })
        .toBe(0);
    } finally {
      redis.disconnect();
    }
  });

  it("streams a tenant's events (SSE, filtered by type) and a job over WebSocket, over sharded pub/sub", async () => {
    const tenantStream = fetch(`${base}/v1/events?type=echo&status=completed`, {
      headers: authHeaders(),
      signal: AbortSignal.timeout(15_000),
    });
    const socket = await openSocket(base, TEST_API_KEY);
    try {
      const slow = await submit({ type: 'sleep', data: { ms: 400 } });
      socket.ws.send(JSON.stringify({ op: 'subscribe', jobs: [slow], types: ['echo'] }));
      expect((await socket.next('snapshot')).job).toMatchObject({ id: slow });
      await socket.next('subscribed');
      const response = await tenantStream;
      const echo = await submit({ type: 'echo', data: { n: 1 } });
      const text = await readUntil(response, echo);
      expect(text).toContain(`"jobId":"${echo}"`);
      expect(text).toContain('"status":"completed"');
      await expect
        .poll(
          () =>
            socket.messages.some(
              (m) =>
                m.type === 'event' &&
                (m.event as { jobId: string; status: string }).jobId === slow &&
                (m.event as { status: string }).status === 'completed',
            ),
          { timeout: 10_000 },
        )
        .toBe(true);
      // The type subscription saw the echo job too.
      expect(
        socket.messages.some((m) => m.type === 'event' && (m.event as { jobId: string }).jobId === echo),
      ).toBe(true);
    } finally {
      socket.ws.close();
    }
  });

  it('shares the tenant cap and the rate limit between two API processes', async () => {
    const capped: { url: string }[] = [];
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const app = startApp(
        'api',
        clusterEnv({
          PORT: String(port),
          HOST: '127.0.0.1',
          TENANT_MAX_IN_FLIGHT: '5',
          RATE_LIMIT_PER_SECOND: '5',
          RATE_LIMIT_BURST: '30',
        }),
      );
      started.push(app);
      capped.push({ url: `http://127.0.0.1:${port}` });
      await waitForOk(`http://127.0.0.1:${port}/health/ready`, 30_000);
    }
    // Twelve long jobs over both processes: exactly five fit the tenant's cap.
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        fetch(`${capped[i % 2]?.url}/v1/jobs`, {
          method: 'POST',
          headers: authHeaders({ 'content-type': 'application/json' }),
          body: JSON.stringify({ type: 'sleep', data: { ms: 20_000 } }),
        }),
      ),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 202)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(7);
    for (const answer of answers.filter((a) => a.status === 202)) {
      const { id } = (await answer.json()) as { id: string };
      const cancelled = await fetch(`${base}/v1/jobs/${id}/cancel`, {
        method: 'POST',
        headers: authHeaders(),
      });
      expect(cancelled.status).toBe(200);
    }
    // The key's bucket (burst 30, 5/s) is one for both processes: 40 reads, at most ~30 pass.
    const started_ = Date.now();
    const reads = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        fetch(`${capped[i % 2]?.url}/v1/job-types`, { headers: authHeaders() }),
      ),
    );
    const seconds = (Date.now() - started_) / 1_000;
    const passed = reads.filter((r) => r.status === 200).length;
    expect(reads.filter((r) => r.status === 429).length).toBeGreaterThan(0);
    expect(passed).toBeLessThanOrEqual(30 - 12 + Math.ceil(5 * seconds) + 1);
  });

  it('runs a schedule from the cluster', async () => {
    const created = await fetch(`${base}/v1/schedules`, {
      method: 'POST',
      headers: authHeaders({ 'content-type': 'application/json' }),
      body: JSON.stringify({ type: 'echo', data: { tick: true }, everyMs: 1_000, limit: 2 }),
    });
    expect(created.status, await created.clone().text()).toBe(201);
    const { id } = (await created.json()) as { id: string };
    await expect
      .poll(
        async () => {
          const list = await fetch(`${base}/v1/jobs?scheduleId=${id}&status=completed`, {
            headers: authHeaders(),
          });
          return ((await list.json()) as { items: unknown[] }).items.length;
        },
        { timeout: 15_000, interval: 250 },
      )
      .toBe(2);
  });

  it("gives the operator each queue's depth and workers, and pauses and resumes a queue", async () => {
    const list = await fetch(`${base}/v1/queues`, { headers: authHeaders() });
    expect(list.status).toBe(200);
    const { items } = (await list.json()) as {
      items: {
        name: string;
        paused: boolean;
        counts: Record<string, number> | null;
        workers: number | null;
      }[];
    };
    const byName = new Map(items.map((q) => [q.name, q]));
    for (const name of ['default', 'http', 'schedules', 'callbacks']) {
      expect(byName.get(name)?.counts, name).not.toBeNull();
      // BullMQ finds the worker's connections on whichever master holds the queue.
      expect(byName.get(name)?.workers, name).toBeGreaterThanOrEqual(1);
    }
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/conveyor_queue_workers\{queue="default"\} [1-9]/);

    const pause = await fetch(`${base}/v1/queues/http/pause`, { method: 'POST', headers: authHeaders() });
    expect(pause.status).toBe(200);
    const held = await submit({
      type: 'http.request',
      data: { url: `${receiverUrl}/held`, method: 'POST', body: 'h' },
    });
    await sleep(700);
    expect(((await waitForJob(held, 'queued')) as JobView).status).toBe('queued');
    // The held job is the http queue's depth, read from the master that holds it.
    const depth = async () => {
      const text = await (await fetch(`${base}/metrics`)).text();
      const line = /conveyor_queue_depth\{queue="http",state="(?:waiting|paused)"\} ([1-9]\d*)/.exec(text);
      return Number(line?.[1] ?? 0);
    };
    await expect.poll(depth, { timeout: 10_000, interval: 250 }).toBe(1);
    const resume = await fetch(`${base}/v1/queues/http/resume`, { method: 'POST', headers: authHeaders() });
    expect(resume.status).toBe(200);
    await waitForJob(held, 'completed');
  });

  it('answers ready only while the configured Redis serves every queue', async () => {
    expect((await fetch(`${base}/health/ready`)).status).toBe(200);
    expect((await fetch(workerHealth)).status).toBe(200);
    // A single-node REDIS_URL pointing at a master that does not hold the default queue's
    // slot: it answers PING, but MOVED for the queue's keys.
    const owner = await cluster.nodeFor(`${services.prefix}:default:meta`);
    const other = cluster.nodes.find((node) => node.port !== owner.port);
    const single = { REDIS_CLUSTER_NODES: '', REDIS_URL: other?.url ?? '' };
    const port = await freePort();
    const wrongApi = startApp('api', clusterEnv({ ...single, PORT: String(port), HOST: '127.0.0.1' }));
    const workerPort = await freePort();
    const wrongWorker = startApp('worker', clusterEnv({ ...single, WORKER_PORT: String(workerPort) }));
    started.push(wrongApi, wrongWorker);
    await waitForOk(`http://127.0.0.1:${port}/health/live`, 30_000);
    const ready = await fetch(`http://127.0.0.1:${port}/health/ready`);
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as { checks: { redis: string } };
    expect(body.checks.redis).toMatch(/queue default: MOVED/);
    await waitForOk(`http://127.0.0.1:${workerPort}/health/live`, 30_000);
    const workerReady = await fetch(`http://127.0.0.1:${workerPort}/health/ready`);
    expect(workerReady.status).toBe(503);
    expect(JSON.stringify(await workerReady.json())).toMatch(/MOVED/);
  });
});

describe('one queue partitioned over the masters (QUEUE_PARTITIONS=default=4)', () => {
  it('spreads its jobs over partitions on several masters, and each ends as one row of the queue', async () => {
    // A pair of its own, under a prefix of its own: the queues above stay one partition each.
    const prefix = `${services.prefix}p`;
    const env = clusterEnv({ QUEUE_PREFIX: prefix, QUEUE_PARTITIONS: 'default=4' });
    const workerPort = await freePort();
    const partWorker = startApp('worker', {
      ...env,
      WORKER_PORT: String(workerPort),
      WORKER_CONCURRENCY: '8',
    });
    started.push(partWorker);
    await waitForOk(`http://127.0.0.1:${workerPort}/health/ready`, 30_000);
    const port = await freePort();
    const partApi = startApp('api', {
      ...env,
      PORT: String(port),
      HOST: '127.0.0.1',
      RATE_LIMIT_PER_SECOND: '0',
    });
    started.push(partApi);
    const partBase = `http://127.0.0.1:${port}`;
    await waitForOk(`${partBase}/health/ready`, 30_000);

    const post = async (body: unknown) => {
      const response = await fetch(`${partBase}/v1/jobs`, {
        method: 'POST',
        headers: authHeaders({ 'content-type': 'application/json' }),
        body: JSON.stringify(body),
      });
      expect(response.status, await response.clone().text()).toBe(202);
      return (await response.json()) as { id: string; queue: string };
    };
    const first = await post({ type: 'sleep', data: { ms: 500 } });
    expect(first.queue).toBe('default');
    const stream = fetch(`${partBase}/v1/jobs/${first.id}/events`, {
      headers: authHeaders(),
      signal: AbortSignal.timeout(20_000),
    });
    const ids = [first.id];
    for (let i = 0; i < 39; i++) ids.push((await post({ type: 'echo', data: { i } })).id);
    const events = await readUntil(await stream, '"status":"completed"');
    expect(events).toContain('"queue":"default"');

    const { sql } = createDatabase(services.databaseUrl, { max: 1 });
    try {
      await expect
        .poll(
          async () =>
            (
              await sql<{ n: number }[]>`
              select count(*)::int as n from jobs where id = any(${ids}) and status = 'completed'`
            )[0]?.n,
          { timeout: 20_000 },
        )
        .toBe(40);
      const queues = await sql<{ queue: string; n: number }[]>`
        select queue, count(*)::int as n from jobs where id = any(${ids}) group by queue`;
      expect(queues).toEqual([{ queue: 'default', n: 40 }]);
    } finally {
      await sql.end();
    }

    // Each partition is a BullMQ queue under its own hash tag; they sit on several masters.
    const names = ['default', 'default.1', 'default.2', 'default.3'];
    const ports = await Promise.all(names.map((q) => holder(`${prefix}:{${q}}:${q}:meta`)));
    expect(new Set(ports).size).toBeGreaterThanOrEqual(2);
    // And the jobs ran in all four: each partition's completed set holds some.
    const redis = createRedis({ cluster: cluster.nodes.map((node) => node.url) }, 'worker');
    try {
      const done = await Promise.all(names.map((q) => redis.zcard(`${prefix}:{${q}}:${q}:completed`)));
      expect(
        done.every((n) => n > 0),
        JSON.stringify(done),
      ).toBe(true);
    } finally {
      redis.disconnect();
    }
    const list = await fetch(`${partBase}/v1/queues`, { headers: authHeaders() });
    const info = ((await list.json()) as { items: { name: string; partitions: number; workers: number }[] })
      .items;
    expect(info.find((q) => q.name === 'default')).toMatchObject({ partitions: 4, workers: 1 });
    expect(info.some((q) => q.name.startsWith('default.'))).toBe(false);
  });
});
