import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect as connectTcp, type Socket } from 'node:net';
import { eventChannels, type StatusEvent } from '@conveyor/core/events';
import { useTestServices } from '@conveyor/dev/testing';
import type { ServerType } from '@hono/node-server';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createJwtVerifier, WS_MAX_PAYLOAD_BYTES } from '../apps/api/src/index.js';
import { createPipeline, type Pipeline, postJson, serveOnFreePort } from './harness.js';
import { openSocket } from './ws-client.js';

const services = useTestServices();
/** AUTH_CACHE_TTL_MS of both API "replicas" here: open streams must close within it. */
const TTL_MS = 300;
/** Timer and event-loop lag allowed on a busy test machine on top of a bound. */
const SLACK_MS = 250;
/** STREAM_MAX_SUBSCRIPTIONS of the second replica. */
const PROCESS_CAP = 3;
const SECRET = 'a-shared-secret-of-at-least-32-characters';

interface Replica {
  p: Pipeline;
  server: ServerType;
  base: string;
  /** The server side of every TCP connection, by the client's port. */
  sockets: Map<number, Socket>;
}

async function startReplica(options: Parameters<typeof createPipeline>[1]): Promise<Replica> {
  const p = await createPipeline(services, options);
  const { server, url } = await serveOnFreePort(p.app);
  const sockets = new Map<number, Socket>();
  server.on('connection', (socket: Socket) => {
    if (socket.remotePort !== undefined) sockets.set(socket.remotePort, socket);
  });
  return { p, server, base: url, sockets };
}

let a: Replica;
let b: Replica;
let admin: Redis;

beforeAll(async () => {
  const jwt = createJwtVerifier({ secret: SECRET });
  a = await startReplica({ authCacheTtlMs: TTL_MS, ...(jwt ? { jwt } : {}) });
  a.p.startWorker({ concurrency: 4 });
  b = await startReplica({ authCacheTtlMs: TTL_MS, streamMaxSubscriptions: PROCESS_CAP });
  admin = new Redis(services.redisUrl);
});
afterAll(async () => {
  for (const r of [a, b]) {
    await r.p.close();
    (r.server as Server).closeAllConnections();
    await new Promise((resolve) => r.server.close(resolve));
  }
  admin.disconnect();
});

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Channels of this file's prefix with a subscriber right now, on Redis itself. */
const subscribedChannels = async () =>
  (await admin.pubsub('CHANNELS', `${services.prefix}:events:*`)) as string[];

/** Opens an SSE stream and reads it to its end; resolves with its text and when it ended. */
async function openSse(base: string, path: string, token: string) {
  const response = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
  expect(response.status).toBe(200);
  const body = response.body;
  if (!body) throw new Error('no body');
  const ended = (async () => {
    let text = '';
    const decoder = new TextDecoder();
    try {
      for await (const chunk of body) text += decoder.decode(chunk as Uint8Array);
    } catch {
      // a cut connection ends the stream too
    }
    return { text, at: Date.now() };
  })();
  return { ended };
}

async function submitDelayed(): Promise<string> {
  const response = await postJson(a.p, '/v1/jobs', { type: 'noop', delayMs: 600_000 });
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

/** Opens a firehose, a job stream and a socket following a job and a type, all with `token`. */
async function openAll(token: string) {
  const id = await submitDelayed();
  const firehose = await openSse(a.base, '/v1/events', token);
  const job = await openSse(a.base, `/v1/jobs/${id}/events`, token);
  const socket = await openSocket(a.base, token);
  socket.ws.send(JSON.stringify({ op: 'subscribe', jobs: [id], types: ['echo'] }));
  await socket.next('subscribed');
  return { firehose, job, socket };
}

async function expectAllClosedBy(streams: Awaited<ReturnType<typeof openAll>>, by: number) {
  const [firehose, job, closed] = await Promise.all([
    streams.firehose.ended,
    streams.job.ended,
    streams.socket.closed,
  ]);
  expect(firehose.text).toContain('event: error');
  expect(firehose.text).toContain('UNAUTHENTICATED');
  expect(job.text).toContain('event: error');
  expect(closed).toMatchObject({ code: 1008, reason: 'credential revoked or expired' });
  for (const at of [firehose.at, job.at, closed.at]) expect(at).toBeLessThanOrEqual(by);
  await until(() => a.p.hub.clients() === 0 && a.p.hub.listeners() === 0);
}

describe('revocation and expiry reach open streams', () => {
  it('closes an SSE firehose, a job stream and a WebSocket within AUTH_CACHE_TTL_MS of a revocation on another replica', async () => {
    const { id: keyRow, key } = await a.p.keys.create({
      tenant: 'default',
      name: 'r',
      scopes: ['jobs:read'],
    });
    const streams = await openAll(key);
    // Used for a while first, so replica a's cache holds the key when it is revoked elsewhere.
    await new Promise((resolve) => setTimeout(resolve, TTL_MS));
    expect(a.p.hub.clients()).toBeGreaterThan(0);
    const revoked = await b.p.request(`/v1/keys/${keyRow}`, { method: 'DELETE' });
    expect(revoked.status).toBe(204);
    await expectAllClosedBy(streams, Date.now() + TTL_MS + SLACK_MS);
  });

  it('closes them once the API key expires', async () => {
    const expiresAt = new Date(Date.now() + 1_500);
    const { key } = await a.p.keys.create({ tenant: 'default', name: 'e', scopes: ['jobs:read'], expiresAt });
    const streams = await openAll(key);
    await expectAllClosedBy(streams, expiresAt.getTime() + TTL_MS + SLACK_MS);
  });

  it('closes them once a JWT passes its exp', async () => {
    const exp = Math.floor(Date.now() / 1_000) + 2;
    const token = await new SignJWT({ exp, tenant: 'default', scope: 'jobs:read', sub: 'carol' })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(SECRET));
    const streams = await openAll(token);
    await expectAllClosedBy(streams, exp * 1_000 + TTL_MS + SLACK_MS);
  });

  it('keeps the streams of a valid key open', async () => {
    const socket = await openSocket(a.base, a.p.apiKey);
    await new Promise((resolve) => setTimeout(resolve, TTL_MS * 3));
    expect(socket.ws.readyState).toBe(WebSocket.OPEN);
    socket.ws.close();
    await socket.closed;
  });
});

describe('WebSocket bounds', () => {
  it(`closes a socket that sends a frame over ${WS_MAX_PAYLOAD_BYTES} bytes with 1009, and answers one of that size`, async () => {
    const fits = await openSocket(a.base, a.p.apiKey);
    fits.ws.send('x'.repeat(WS_MAX_PAYLOAD_BYTES));
    expect(String((await fits.next('error')).message)).toContain('not JSON');
    expect(fits.ws.readyState).toBe(WebSocket.OPEN);
    fits.ws.close();

    const big = await openSocket(a.base, a.p.apiKey);
    big.ws.send('x'.repeat(WS_MAX_PAYLOAD_BYTES + 1));
    expect((await big.closed).code).toBe(1009);
    // A 99 MB frame is refused from its header alone: the socket closes before it is sent.
    const huge = await openSocket(a.base, a.p.apiKey);
    huge.ws.send(Buffer.alloc(99 * 1024 * 1024));
    expect((await huge.closed).code).toBe(1009);
    await until(() => a.p.hub.clients() === 0);
  });

  it('refuses a subscription past 100 per socket (jobs and types together) with an error naming the limit', async () => {
    const socket = await openSocket(a.base, a.p.apiKey);
    const id = await submitDelayed();
    socket.ws.send(JSON.stringify({ op: 'subscribe', jobs: [id] }));
    expect((await socket.next('subscribed')).jobs).toEqual([id]);
    const names = Array.from({ length: 100 }, (_, i) => `type-${i}`);
    socket.ws.send(JSON.stringify({ op: 'subscribe', types: names }));
    const refused = await socket.next('error');
    expect(refused).toMatchObject({ jobType: 'type-99' });
    expect(String(refused.message)).toContain('at most 100 jobs and types');
    expect((await socket.next('subscribed')).types).toEqual(names.slice(0, 99));
    const other = await submitDelayed();
    socket.ws.send(JSON.stringify({ op: 'subscribe', jobs: [other] }));
    expect(await socket.next('error')).toMatchObject({ job: other });
    expect((await socket.next('subscribed')).jobs).toEqual([]);
    // Unsubscribing frees a place.
    socket.ws.send(JSON.stringify({ op: 'unsubscribe', types: ['type-0'] }));
    await socket.next('unsubscribed');
    socket.ws.send(JSON.stringify({ op: 'subscribe', jobs: [other] }));
    expect((await socket.next('subscribed')).jobs).toEqual([other]);
    expect(socket.ws.readyState).toBe(WebSocket.OPEN);
    socket.ws.close();
    await until(async () => a.p.hub.clients() === 0 && (await subscribedChannels()).length === 0);
  });

  it('refuses stream subscriptions past STREAM_MAX_SUBSCRIPTIONS per process: 503 for SSE, an error on a socket', async () => {
    const controller = new AbortController();
    const streams = await Promise.all(
      Array.from({ length: PROCESS_CAP }, () =>
        fetch(`${b.base}/v1/events`, {
          headers: { authorization: `Bearer ${b.p.apiKey}` },
          signal: controller.signal,
        }),
      ),
    );
    expect(streams.map((r) => r.status)).toEqual(Array(PROCESS_CAP).fill(200));
    const refused = await fetch(`${b.base}/v1/events`, {
      headers: { authorization: `Bearer ${b.p.apiKey}` },
    });
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { detail: string }).detail).toContain(
      `${PROCESS_CAP} stream subscriptions (STREAM_MAX_SUBSCRIPTIONS)`,
    );
    const socket = await openSocket(b.base, b.p.apiKey);
    socket.ws.send(JSON.stringify({ op: 'subscribe', types: ['echo'] }));
    expect(String((await socket.next('error')).message)).toContain('STREAM_MAX_SUBSCRIPTIONS');
    expect((await socket.next('subscribed')).types).toEqual([]);
    controller.abort();
    await until(() => b.p.hub.listeners() === 0);
    socket.ws.send(JSON.stringify({ op: 'subscribe', types: ['echo'] }));
    expect((await socket.next('subscribed')).types).toEqual(['echo']);
    socket.ws.close();
    await until(() => b.p.hub.clients() === 0 && b.p.hub.listeners() === 0);
  });

  it('answers every message, refusing those past 16 waiting to be handled', async () => {
    const socket = await openSocket(a.base, a.p.apiKey);
    const ids = Array.from(
      { length: 40 },
      (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    );
    for (const id of ids) socket.ws.send(JSON.stringify({ op: 'subscribe', jobs: [id] }));
    const errors = () => socket.messages.filter((m) => m.type === 'error').map((m) => String(m.message));
    const refusedCount = () => errors().filter((m) => m.includes('at most 16 unanswered')).length;
    const answered = () => socket.messages.filter((m) => m.type === 'subscribed').length;
    await until(() => answered() + refusedCount() === 40);
    const refused = errors().filter((m) => m.includes('at most 16 unanswered'));
    expect(refused.length).toBeGreaterThan(0);
    // Each handled message answers one "no job" error and one "subscribed"; each refused one error.
    expect(errors().filter((m) => m.includes('no job')).length).toBe(40 - refused.length);
    expect(socket.messages.filter((m) => m.type === 'subscribed').length).toBe(40 - refused.length);
    expect(socket.ws.readyState).toBe(WebSocket.OPEN);
    socket.ws.close();
    await until(() => a.p.hub.clients() === 0);
  });

  it('leaves no stream client and no channel behind when 20 sockets send 10 identical subscribes and close at once', async () => {
    const id = await submitDelayed();
    const message = JSON.stringify({ op: 'subscribe', jobs: [id], types: ['echo'] });
    // Held open first: each socket follows the job once, however often it asked.
    const held = await Promise.all(Array.from({ length: 20 }, () => openSocket(a.base, a.p.apiKey)));
    for (const s of held) for (let i = 0; i < 10; i++) s.ws.send(message);
    await Promise.all(
      held.map(async (s) => Promise.all(Array.from({ length: 10 }, () => s.next('subscribed')))),
    );
    expect(a.p.hub.listeners()).toBe(40);
    expect((await subscribedChannels()).sort()).toEqual(
      [
        eventChannels(services.prefix).job('default', id),
        eventChannels(services.prefix).tenant('default'),
      ].sort(),
    );
    for (const s of held) s.ws.close();
    // Then closing while the subscribes are still being handled.
    const racing = await Promise.all(Array.from({ length: 20 }, () => openSocket(a.base, a.p.apiKey)));
    for (const s of racing) {
      for (let i = 0; i < 10; i++) s.ws.send(message);
      s.ws.close();
    }
    await Promise.all([...held, ...racing].map((s) => s.closed));
    await until(async () => a.p.hub.clients() === 0 && (await subscribedChannels()).length === 0);
    expect(a.p.hub.listeners()).toBe(0);
    expect(a.p.hub.channels()).toEqual([]);
  });
});

/** An `active` event of about 8 KiB, so a few hundred fill the OS socket buffers. */
function bigEvent(i: number): string {
  const event: StatusEvent = {
    jobId: '00000000-0000-4000-8000-000000000000',
    tenant: 'default',
    type: 'echo',
    queue: 'default',
    status: 'active',
    attempt: 1,
    progress: { i, pad: 'x'.repeat(8 * 1024) },
    ts: new Date().toISOString(),
  };
  return JSON.stringify(event);
}

async function publishBig(count: number): Promise<void> {
  const channel = eventChannels(services.prefix).tenant('default');
  for (let sent = 0; sent < count; sent += 250) {
    const batch = admin.pipeline();
    for (let i = sent; i < Math.min(count, sent + 250); i++) batch.publish(channel, bigEvent(i));
    await batch.exec();
  }
}

describe('slow readers are dropped', () => {
  it('cuts an SSE firehose reader that stops reading once more than 1,000 events wait for it', async () => {
    const client = connectTcp((a.server.address() as AddressInfo).port, '127.0.0.1');
    await new Promise((resolve) => client.once('connect', resolve));
    client.pause();
    client.write(`GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${a.p.apiKey}\r\n\r\n`);
    await until(() => a.p.hub.clients() === 1);
    const serverSide = a.sockets.get(client.localPort ?? 0);
    expect(serverSide).toBeDefined();
    // 2,500 events of 8 KiB: at most ~4 MiB fit in the OS buffers, the rest wait in the API.
    await publishBig(2_500);
    await until(() => a.p.hub.clients() === 0 && a.p.hub.listeners() === 0, 10_000);
    await until(() => serverSide?.destroyed === true);
    client.destroy();
  });

  it('cuts a WebSocket reader that stops reading once 1 MiB waits in its socket', async () => {
    const socket = await openSocket(a.base, a.p.apiKey);
    socket.ws.send(JSON.stringify({ op: 'subscribe', types: ['echo'] }));
    await socket.next('subscribed');
    const raw = (socket.ws as unknown as { _socket: Socket })._socket;
    const serverSide = a.sockets.get(raw.localPort ?? 0);
    expect(serverSide).toBeDefined();
    raw.pause();
    await publishBig(1_500);
    await until(() => a.p.hub.clients() === 0 && a.p.hub.listeners() === 0, 10_000);
    await until(() => serverSide?.destroyed === true);
    raw.destroy();
  });
});
