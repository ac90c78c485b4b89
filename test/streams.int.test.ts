import type { AddressInfo } from 'node:net';
import { createClient, parseSse } from '@conveyor/client';
import { eventChannels } from '@conveyor/core/events';
import { useTestServices } from '@conveyor/dev/testing';
import { type ServerType, serve } from '@hono/node-server';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createWebSocketServer } from '../apps/api/src/index.js';
import { createPipeline, type Pipeline, postJson } from './harness.js';
import { openSocket } from './ws-client.js';

const services = useTestServices();
let p: Pipeline;
let server: ServerType;
let base: string;
let admin: Redis;

beforeAll(async () => {
  p = await createPipeline(services, { heartbeatMs: 200 });
  p.startWorker({ concurrency: 50 });
  server = serve({
    fetch: p.app.fetch,
    port: 0,
    hostname: '127.0.0.1',
    websocket: { server: createWebSocketServer() },
  });
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  admin = new Redis(services.redisUrl);
});
afterAll(async () => {
  await p.close();
  await new Promise((resolve) => server.close(resolve));
  admin.disconnect();
});

const client = () => createClient({ url: base, apiKey: p.apiKey });

async function submit(body: unknown): Promise<string> {
  const response = await postJson(p, '/v1/jobs', body);
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

/** Channels of this test file's prefix with a subscriber right now. */
async function subscribedChannels(): Promise<string[]> {
  return (await admin.pubsub('CHANNELS', `${services.prefix}:events:*`)) as string[];
}

describe('SSE: GET /v1/jobs/:id/events', () => {
  it('sends the snapshot first, then each status event, and closes after the terminal one', async () => {
    const id = await submit({ type: 'test.progress', data: { steps: 3 } });
    const items = [];
    for await (const item of client().watch(id)) items.push(item);
    expect(items[0]?.kind).toBe('snapshot');
    const last = items.at(-1);
    expect(last?.kind === 'event' ? last.event.status : last?.job.status).toBe('completed');
    const progress = items.flatMap((i) =>
      i.kind === 'event' && i.event.progress !== undefined ? [i.event.progress] : [],
    );
    expect(progress.length === 0 || progress.at(-1) === 100).toBe(true);
  });

  it('still delivers the end of a job that completes 5 ms after its submit (the snapshot closes the race)', async () => {
    for (let i = 0; i < 20; i++) {
      const id = await submit({ type: 'sleep', data: { ms: 5 } });
      const job = await client().waitFor(id, AbortSignal.timeout(5_000));
      expect(job).toMatchObject({ id, status: 'completed' });
    }
  });

  it('answers a finished job with its snapshot and closes at once', async () => {
    const id = await submit({ type: 'echo', data: 1 });
    await client().waitFor(id);
    const items = [];
    for await (const item of client().watch(id)) items.push(item);
    expect(items).toEqual([{ kind: 'snapshot', job: expect.objectContaining({ id, status: 'completed' }) }]);
  });

  it('sends heartbeat comments while idle', async () => {
    const id = await submit({ type: 'noop', delayMs: 60_000 });
    const response = await fetch(`${base}/v1/jobs/${id}/events`, {
      headers: { authorization: `Bearer ${p.apiKey}` },
    });
    const reader = response.body?.getReader();
    let text = '';
    const until = Date.now() + 1_000;
    while (reader && Date.now() < until && !text.includes(': heartbeat')) {
      const { value } = await reader.read();
      text += new TextDecoder().decode(value);
    }
    await reader?.cancel();
    expect(text).toContain('event: snapshot');
    expect(text).toContain(': heartbeat');
  });

  it('gives 200 concurrent clients on different jobs exactly their own events', async () => {
    const ids = await Promise.all(
      Array.from({ length: 200 }, () => submit({ type: 'sleep', data: { ms: 300 } })),
    );
    const seen = await Promise.all(
      ids.map(async (id) => {
        const jobIds = new Set<string>();
        let terminal = '';
        for await (const item of client().watch(id, AbortSignal.timeout(20_000))) {
          if (item.kind === 'snapshot') {
            jobIds.add(item.job.id);
            terminal = item.job.status;
          } else {
            jobIds.add(item.event.jobId);
            terminal = item.event.status;
          }
        }
        return { id, jobIds: [...jobIds], terminal };
      }),
    );
    for (const s of seen) {
      expect(s.jobIds).toEqual([s.id]);
      expect(s.terminal).toBe('completed');
    }
  });

  it('is a 404 for an unknown job and a 400 for a bad id, before any stream starts', async () => {
    const missing = await p.request('/v1/jobs/00000000-0000-4000-8000-000000000000/events');
    expect(missing.status).toBe(404);
    expect((await p.request('/v1/jobs/nope/events')).status).toBe(400);
  });
});

describe('subscriptions follow clients', () => {
  it('an API with no stream clients is subscribed to nothing; a client subscribes, its leaving unsubscribes', async () => {
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await subscribedChannels()).toEqual([]);
    const id = await submit({ type: 'noop', delayMs: 60_000 });
    const controller = new AbortController();
    const watching = (async () => {
      for await (const _ of client().watch(id, controller.signal)) {
        // only holding the stream open
      }
    })().catch(() => {});
    const deadline = Date.now() + 2_000;
    while ((await subscribedChannels()).length === 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(await subscribedChannels()).toEqual([eventChannels(services.prefix).job('default', id)]);
    const [, numsub] = (await admin.pubsub('NUMSUB', eventChannels(services.prefix).job('default', id))) as [
      string,
      number,
    ];
    expect(numsub).toBe(1);
    controller.abort();
    await watching;
    const until = Date.now() + 2_000;
    while ((await subscribedChannels()).length > 0 && Date.now() < until)
      await new Promise((r) => setTimeout(r, 20));
    expect(await subscribedChannels()).toEqual([]);
    expect(p.hub.channels()).toEqual([]);
  });
});

describe('SSE firehose: GET /v1/events', () => {
  it('streams the tenant events filtered by type', async () => {
    const response = await fetch(`${base}/v1/events?type=echo&status=completed`, {
      headers: { authorization: `Bearer ${p.apiKey}` },
    });
    const controller = new AbortController();
    const received: { type: string; status: string }[] = [];
    const reading = (async () => {
      if (!response.body) return;
      for await (const message of parseSse(response.body, controller.signal)) {
        if (message.event !== 'status') continue;
        received.push(JSON.parse(message.data) as { type: string; status: string });
        if (received.length >= 2) return;
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await submit({ type: 'noop' });
    await submit({ type: 'echo', data: 1 });
    await submit({ type: 'echo', data: 2 });
    await Promise.race([reading, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    controller.abort();
    expect(received).toHaveLength(2);
    expect(received.every((e) => e.type === 'echo' && e.status === 'completed')).toBe(true);
  });

  it('rejects an unknown status filter with 400', async () => {
    expect((await p.request('/v1/events?status=done')).status).toBe(400);
  });
});

describe('WebSocket: GET /v1/ws', () => {
  const connect = () => openSocket(base, p.apiKey);

  it('subscribes to a job (snapshot, then events) and to a type, and unsubscribes', async () => {
    const { ws, messages, next } = await connect();
    const id = await submit({ type: 'sleep', data: { ms: 200 } });
    ws.send(JSON.stringify({ op: 'subscribe', jobs: [id], types: ['echo'] }));
    expect((await next('snapshot')).job).toMatchObject({ id });
    await next('subscribed');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const jobEvents = messages
      .filter((m) => m.type === 'event')
      .map((m) => m.event as { jobId: string; status: string });
    expect(jobEvents.at(-1)).toMatchObject({ jobId: id, status: 'completed' });

    const echo = await submit({ type: 'echo', data: 'ws' });
    const deadline = Date.now() + 3_000;
    while (
      !messages.some((m) => (m.event as { jobId?: string } | undefined)?.jobId === echo) &&
      Date.now() < deadline
    ) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(messages.some((m) => (m.event as { jobId?: string } | undefined)?.jobId === echo)).toBe(true);

    ws.send(JSON.stringify({ op: 'unsubscribe', types: ['echo'] }));
    await next('unsubscribed');
    const count = messages.length;
    await submit({ type: 'echo', data: 'after' });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(messages.slice(count).filter((m) => m.type === 'event')).toEqual([]);
    ws.close();
  });

  it('answers a bad message and an unknown job with a clear error, and keeps the socket open', async () => {
    const { ws, next } = await connect();
    ws.send('not json');
    expect(String((await next('error')).message)).toContain('bad message');
    ws.send(JSON.stringify({ op: 'subscribe', jobs: ['nope'] }));
    expect(String((await next('error')).message)).toContain('UUID');
    ws.send(JSON.stringify({ op: 'subscribe', jobs: ['00000000-0000-4000-8000-000000000000'] }));
    expect(String((await next('error')).message)).toContain('no job');
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close();
  });

  it('refuses an upgrade without a key', async () => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/ws`);
    const status = await new Promise<number>((resolve) =>
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)),
    );
    expect(status).toBe(401);
  });
});
