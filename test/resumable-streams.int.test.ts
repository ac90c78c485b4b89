import type { AddressInfo, Server, Socket } from 'node:net';
import { connect as connectTcp, createServer } from 'node:net';
import { createClient, parseSse, type SseMessage } from '@conveyor/client';
import { eventLogKey, type StatusEvent } from '@conveyor/core/events';
import { useTestServices } from '@conveyor/dev/testing';
import type { ServerType } from '@hono/node-server';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipeline, type Pipeline, postJson, serveOnFreePort } from './harness.js';
import { openSocket } from './ws-client.js';

const services = useTestServices();

interface Served {
  p: Pipeline;
  server: ServerType;
  base: string;
}

async function served(p: Pipeline): Promise<Served> {
  const { server, url } = await serveOnFreePort(p.app);
  return { p, server, base: url };
}

let main: Served;
/** A second deployment (its own prefix) whose writers keep a tiny window: 100 events, 1.5 s. */
let tiny: Served;
const TINY = { count: 100, maxAgeMs: 1_500 };
let admin: Redis;

beforeAll(async () => {
  main = await served(await createPipeline(services, { heartbeatMs: 200 }));
  main.p.startWorker({ concurrency: 20 });
  tiny = await served(
    await createPipeline({ ...services, prefix: `${services.prefix}:tiny` }, { eventRetention: TINY }),
  );
  tiny.p.startWorker({ concurrency: 20 });
  admin = new Redis(services.redisUrl);
});
afterAll(async () => {
  for (const s of [main, tiny]) {
    await s.p.close();
    await new Promise((resolve) => s.server.close(resolve));
  }
  admin.disconnect();
});

async function submit(s: Served, body: unknown, key = s.p.apiKey): Promise<string> {
  const response = await postJson(
    { request: (path, init) => fetch(`${s.base}${path}`, init) },
    '/v1/jobs',
    body,
    {
      authorization: `Bearer ${key}`,
    },
  );
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

/** An open SSE connection whose messages are all kept; `close()` cuts it. */
interface Reader {
  messages: SseMessage[];
  status: number;
  /** Resolves when the server ends the stream or it is cut. */
  ended: Promise<void>;
  close(): void;
  /** Waits until `predicate` holds for the messages (5 s at most by default). */
  until(predicate: (messages: SseMessage[]) => boolean, timeoutMs?: number): Promise<void>;
}

async function openSse(base: string, path: string, key: string, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  const response = await fetch(`${base}${path}`, {
    headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream', ...headers },
    signal: controller.signal,
  });
  const messages: SseMessage[] = [];
  const ended = (async () => {
    if (!response.ok || !response.body) return;
    try {
      for await (const message of parseSse(response.body, controller.signal)) messages.push(message);
    } catch {
      // cut
    }
  })();
  const reader: Reader = {
    messages,
    status: response.status,
    ended,
    close: () => controller.abort(),
    async until(predicate, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(messages)) {
        if (Date.now() > deadline) throw new Error(`timed out; got ${JSON.stringify(messages.slice(-5))}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
  };
  return { reader, response };
}

const statuses = (messages: SseMessage[]) =>
  messages
    .filter((m) => m.event === 'status')
    .map((m) => ({ ...(JSON.parse(m.data) as StatusEvent), sseId: m.id }));

/** A TCP proxy in front of `base` whose connections can be cut, to drop a client's stream under it. */
async function cuttableProxy(base: string) {
  const target = new URL(base);
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    const outbound = connectTcp(Number(target.port), target.hostname);
    sockets.add(inbound);
    sockets.add(outbound);
    inbound.pipe(outbound).pipe(inbound);
    const drop = () => {
      inbound.destroy();
      outbound.destroy();
      sockets.delete(inbound);
      sockets.delete(outbound);
    };
    inbound.on('error', drop).on('close', drop);
    outbound.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let cuts = 0;
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get cuts() {
      return cuts;
    },
    cut() {
      cuts++;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('resumable SSE: the firehose', () => {
  it('gives a client cut off for 10 s every event it missed, exactly once, when it reconnects with Last-Event-ID', async () => {
    const key = main.p.apiKey;
    // The reference stays connected throughout; the other is cut for 10 s in the middle.
    const { reader: reference } = await openSse(main.base, '/v1/events?type=echo', key);
    const { reader: first } = await openSse(main.base, '/v1/events?type=echo', key);
    await first.until((m) => m.some((x) => x.event === 'connected'));
    const ids: string[] = [];
    let producing = true;
    const producer = (async () => {
      while (producing) {
        ids.push(await submit(main, { type: 'echo', data: { n: ids.length } }));
        await new Promise((resolve) => setTimeout(resolve, 40));
      }
    })();
    await first.until((m) => statuses(m).length >= 20);
    first.close();
    await first.ended;
    const before = statuses(first.messages);
    const lastId = first.messages.at(-1)?.id;
    expect(lastId).toMatch(/^\d+-\d+$/);
    const cutAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    const missedWhileAway = statuses(reference.messages).length - before.length;
    const { reader: second } = await openSse(main.base, '/v1/events?type=echo', key, {
      'last-event-id': String(lastId),
    });
    // Jobs keep coming for 2 s after the reconnect: the catch-up hands over to live events.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    producing = false;
    await producer;
    const completedOf = (events: { status: string; jobId: string }[]) =>
      new Set(events.filter((e) => e.status === 'completed').map((e) => e.jobId));
    await reference.until((m) => completedOf(statuses(m)).size === ids.length, 15_000);
    await second.until(
      (m) => statuses(m).length + before.length >= statuses(reference.messages).length,
      15_000,
    );
    reference.close();
    second.close();

    expect(Date.now() - cutAt).toBeGreaterThanOrEqual(10_000);
    expect(missedWhileAway).toBeGreaterThan(100);
    expect(second.messages.some((m) => m.event === 'reset')).toBe(false);
    const all = [...before, ...statuses(second.messages)];
    const expected = statuses(reference.messages);
    // Every event, in the same order, each once: the same ids as the client that never left.
    expect(all.map((e) => e.sseId)).toEqual(expected.map((e) => e.sseId));
    expect(new Set(all.map((e) => e.sseId)).size).toBe(all.length);
    // ...and the ids are the events' own, each job's active and completed event among them.
    expect(all.every((e) => e.sseId === e.id)).toBe(true);
    for (const id of ids) {
      expect(all.filter((e) => e.jobId === id).map((e) => e.status)).toEqual(['active', 'completed']);
    }
  }, 60_000);

  it('takes the id as ?lastEventId= for clients that cannot set headers, the header winning over it', async () => {
    const key = main.p.apiKey;
    const { reader } = await openSse(main.base, '/v1/events?type=echo', key);
    await reader.until((m) => m.some((x) => x.event === 'connected'));
    const start = reader.messages[0]?.id as string;
    const job = await submit(main, { type: 'echo', data: 'query' });
    await reader.until((m) => statuses(m).some((e) => e.jobId === job && e.status === 'completed'));
    reader.close();
    const mid = statuses(reader.messages).find((e) => e.jobId === job && e.status === 'active')
      ?.sseId as string;

    const { reader: byQuery } = await openSse(main.base, `/v1/events?type=echo&lastEventId=${start}`, key);
    await byQuery.until((m) => statuses(m).some((e) => e.jobId === job && e.status === 'completed'));
    expect(statuses(byQuery.messages).map((e) => [e.jobId, e.status])).toEqual([
      [job, 'active'],
      [job, 'completed'],
    ]);
    byQuery.close();

    // An EventSource reconnecting keeps its first URL and sends the newer id as the header.
    const { reader: both } = await openSse(main.base, `/v1/events?type=echo&lastEventId=${start}`, key, {
      'last-event-id': mid,
    });
    await both.until((m) => statuses(m).length >= 1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(statuses(both.messages).map((e) => [e.jobId, e.status])).toEqual([[job, 'completed']]);
    both.close();
  });

  it('answers a malformed id with 400 naming where it came from', async () => {
    const key = main.p.apiKey;
    const cases: [string, Record<string, string>, string][] = [
      ['/v1/events', { 'last-event-id': 'yesterday' }, 'Last-Event-ID'],
      ['/v1/events?lastEventId=12-x', {}, 'lastEventId'],
      [
        `/v1/jobs/${await submit(main, { type: 'noop' })}/events`,
        { 'last-event-id': '1-2-3' },
        'Last-Event-ID',
      ],
    ];
    for (const [path, headers, field] of cases) {
      const response = await fetch(`${main.base}${path}`, {
        headers: { authorization: `Bearer ${key}`, ...headers },
      });
      expect(response.status).toBe(400);
      const problem = (await response.json()) as { code: string; detail: string };
      expect(problem.code).toBe('VALIDATION_FAILED');
      expect(problem.detail).toContain(field);
    }
    // An unknown parameter on a job's stream is a 400 too.
    const job = await submit(main, { type: 'noop' });
    const unknown = await fetch(`${main.base}/v1/jobs/${job}/events?after=1-0`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(unknown.status).toBe(400);
  });

  it("answers another tenant's event id with a reset, never with that tenant's events", async () => {
    const other = await main.p.keys.create({
      tenant: 'other',
      name: 'other',
      scopes: ['jobs:read', 'jobs:write'],
    });
    const { reader: theirs } = await openSse(main.base, '/v1/events', other.key);
    const job = await submit(main, { type: 'echo', data: 'theirs' }, other.key);
    await theirs.until((m) => statuses(m).some((e) => e.jobId === job && e.status === 'completed'));
    theirs.close();
    const theirId = statuses(theirs.messages)[0]?.sseId as string;

    const { reader: mine } = await openSse(main.base, '/v1/events', main.p.apiKey, {
      'last-event-id': theirId,
    });
    await mine.until((m) => m.some((x) => x.event === 'reset'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    mine.close();
    expect(statuses(mine.messages).filter((e) => e.tenant !== 'default')).toEqual([]);
    const reset = mine.messages.find((m) => m.event === 'reset');
    expect(JSON.parse(reset?.data ?? '{}')).toMatchObject({ lastEventId: theirId });
    expect(reset?.id).toMatch(/^\d+-\d+$/);
  });
});

describe('resumable SSE: the window', () => {
  it('keeps about EVENT_RETENTION_COUNT events per tenant and answers an id trimmed away with reset, whose id resumes cleanly', async () => {
    const key = tiny.p.apiKey;
    const { reader: first } = await openSse(tiny.base, '/v1/events', key);
    await first.until((m) => m.some((x) => x.event === 'connected'));
    const early = await submit(tiny, { type: 'echo', data: 'early' });
    await first.until((m) => statuses(m).some((e) => e.jobId === early && e.status === 'completed'));
    first.close();
    const lastId = first.messages.at(-1)?.id as string;
    // 400 events (200 jobs) go by: ten times the window.
    const jobs = await Promise.all(
      Array.from({ length: 200 }, (_, n) => submit(tiny, { type: 'echo', data: n })),
    );
    const logKey = eventLogKey(`${services.prefix}:tiny`, 'default');
    const deadline = Date.now() + 15_000;
    while ((await admin.xlen(logKey)) < TINY.count || (await countCompleted(tiny, jobs)) < jobs.length) {
      if (Date.now() > deadline) throw new Error('the jobs did not complete');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // Trimmed approximately (whole stream nodes of 100 entries): never fewer, a node more at most.
    const length = await admin.xlen(logKey);
    expect(length).toBeGreaterThanOrEqual(TINY.count);
    expect(length).toBeLessThanOrEqual(TINY.count + 100);

    const { reader: second } = await openSse(tiny.base, '/v1/events', key, { 'last-event-id': lastId });
    await second.until((m) => m.some((x) => x.event === 'reset'));
    const reset = second.messages.find((m) => m.event === 'reset');
    expect(JSON.parse(reset?.data ?? '{}').message).toContain('100 events');
    const later = await submit(tiny, { type: 'echo', data: 'later' });
    await second.until((m) => statuses(m).some((e) => e.jobId === later && e.status === 'completed'));
    second.close();
    // Nothing from before the reset is replayed, the new job's events come live.
    expect(statuses(second.messages).map((e) => e.jobId)).toEqual([later, later]);

    // The reset's id is a place to resume from: nothing lost after it.
    const { reader: third } = await openSse(tiny.base, '/v1/events', key, {
      'last-event-id': reset?.id as string,
    });
    await third.until((m) => statuses(m).length >= 2);
    third.close();
    expect(third.messages.some((m) => m.event === 'reset')).toBe(false);
    expect(statuses(third.messages).map((e) => [e.jobId, e.status])).toEqual([
      [later, 'active'],
      [later, 'completed'],
    ]);
  }, 30_000);

  it('answers an id older than EVENT_RETENTION_MS with reset, though the log still holds it', async () => {
    const key = tiny.p.apiKey;
    const job = await submit(tiny, { type: 'echo', data: 'aged' });
    const { reader } = await openSse(tiny.base, `/v1/jobs/${job}/events`, key);
    await reader.ended;
    const lastId = reader.messages.at(-1)?.id as string;
    const fresh = await submit(tiny, { type: 'echo', data: 'fresh' });
    const { reader: soon } = await openSse(tiny.base, '/v1/events', key, { 'last-event-id': lastId });
    await soon.until((m) => statuses(m).some((e) => e.jobId === fresh && e.status === 'completed'));
    soon.close();
    expect(soon.messages.some((m) => m.event === 'reset')).toBe(false);

    await new Promise((resolve) => setTimeout(resolve, TINY.maxAgeMs + 200));
    await submit(tiny, { type: 'echo', data: 'keeps the log alive' });
    const { reader: late } = await openSse(tiny.base, '/v1/events', key, { 'last-event-id': lastId });
    await late.until((m) => m.some((x) => x.event === 'reset'));
    late.close();
    expect(JSON.parse(late.messages.find((m) => m.event === 'reset')?.data ?? '{}').message).toContain(
      '1.5 s',
    );
  });
});

async function countCompleted(s: Served, ids: string[]): Promise<number> {
  let done = 0;
  for (const id of ids) {
    const response = await fetch(`${s.base}/v1/jobs/${id}`, {
      headers: { authorization: `Bearer ${s.p.apiKey}` },
    });
    if (((await response.json()) as { status: string }).status === 'completed') done++;
  }
  return done;
}

describe("resumable SSE: a job's stream", () => {
  it('resumes without a snapshot and ends after the terminal event; a resume after the end is 204', async () => {
    const key = main.p.apiKey;
    const job = await submit(main, { type: 'test.progress', data: { steps: 20 } });
    const { reader: first } = await openSse(main.base, `/v1/jobs/${job}/events`, key);
    await first.until((m) => statuses(m).length >= 3);
    first.close();
    const snapshot = first.messages[0];
    expect(snapshot?.event).toBe('snapshot');
    expect(snapshot?.id).toMatch(/^\d+-\d+$/);
    const { reader: second } = await openSse(main.base, `/v1/jobs/${job}/events`, key, {
      'last-event-id': first.messages.at(-1)?.id as string,
    });
    await second.ended;
    expect(second.messages.some((m) => m.event === 'snapshot')).toBe(false);
    const all = [...statuses(first.messages), ...statuses(second.messages)];
    expect(all.at(-1)?.status).toBe('completed');
    expect(
      all.filter((e) => e.status === 'active' && e.progress !== undefined).map((e) => e.progress),
    ).toEqual(Array.from({ length: 20 }, (_, i) => Math.round(((i + 1) * 100) / 20)));
    expect(new Set(all.map((e) => e.sseId)).size).toBe(all.length);

    const after = await fetch(`${main.base}/v1/jobs/${job}/events`, {
      headers: { authorization: `Bearer ${key}`, 'last-event-id': all.at(-1)?.sseId as string },
    });
    expect(after.status).toBe(204);
  });

  it("the typed client's watch resumes by itself when its connection drops, every event once", async () => {
    const proxy = await cuttableProxy(main.base);
    try {
      const client = createClient({ url: proxy.url, apiKey: main.p.apiKey });
      // Due a moment later, so the stream is open before the first progress report.
      const job = await submit(main, { type: 'test.progress', data: { steps: 30 }, delayMs: 500 });
      const items: Awaited<ReturnType<ReturnType<typeof client.watch>['next']>>['value'][] = [];
      for await (const item of client.watch(job)) {
        items.push(item);
        // Cut the connection under it twice, mid-stream.
        if (items.length === 5 || items.length === 15) proxy.cut();
      }
      expect(proxy.cuts).toBe(2);
      const events = items.flatMap((i) => (i?.kind === 'event' ? [i.event] : []));
      expect(items.filter((i) => i?.kind === 'snapshot')).toHaveLength(1);
      expect(events.at(-1)?.status).toBe('completed');
      expect(events.filter((e) => e.progress !== undefined).map((e) => e.progress)).toEqual(
        Array.from({ length: 30 }, (_, i) => Math.round(((i + 1) * 100) / 30)),
      );
      expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    } finally {
      await proxy.close();
    }
  });

  it("the client's watchEvents resumes the firehose by itself, and yields reset for an id past the window", async () => {
    const proxy = await cuttableProxy(main.base);
    const controller = new AbortController();
    try {
      const client = createClient({ url: proxy.url, apiKey: main.p.apiKey });
      const jobs: string[] = [];
      const seen: StatusEvent[] = [];
      const watching = (async () => {
        for await (const item of client.watchEvents(
          { type: 'echo', status: 'completed' },
          controller.signal,
        )) {
          if (item.kind === 'event') seen.push(item.event);
          if (seen.length === jobs.length && jobs.length === 6) return;
        }
      })().catch((error: unknown) => {
        if (!controller.signal.aborted) throw error;
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      for (let n = 0; n < 6; n++) {
        jobs.push(await submit(main, { type: 'echo', data: `w${n}` }));
        if (n === 2) proxy.cut();
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await Promise.race([watching, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      expect(proxy.cuts).toBe(1);
      expect(seen.map((e) => e.jobId).sort()).toEqual([...jobs].sort());
    } finally {
      controller.abort();
      await proxy.close();
    }
    const old = createClient({ url: tiny.base, apiKey: tiny.p.apiKey }).watchEvents({ lastEventId: '1-0' });
    const first = await old.next();
    await old.return(undefined);
    expect(first.value).toMatchObject({ kind: 'reset', lastEventId: '1-0' });
  });
});

describe('resumable WebSocket', () => {
  it('replays the events of the jobs and types a subscribe with `after` names, then goes live, nothing twice', async () => {
    const key = main.p.apiKey;
    const socket = await openSocket(main.base, key);
    socket.ws.send(JSON.stringify({ op: 'subscribe', types: ['echo'] }));
    const subscribed = await socket.next('subscribed');
    expect(subscribed.lastEventId).toMatch(/^\d+-\d+$/);
    const a = await submit(main, { type: 'echo', data: 'a' });
    const deadline = Date.now() + 5_000;
    const eventsOf = (s: typeof socket) =>
      s.messages.filter((m) => m.type === 'event').map((m) => m.event as StatusEvent);
    while (!eventsOf(socket).some((e) => e.jobId === a && e.status === 'completed')) {
      if (Date.now() > deadline) throw new Error('no events');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const seenId = eventsOf(socket).find((e) => e.jobId === a && e.status === 'active')?.id as string;
    socket.ws.close();

    // Gone; meanwhile two more jobs ran.
    const b = await submit(main, { type: 'echo', data: 'b' });
    const slow = await submit(main, { type: 'test.progress', data: { steps: 5 } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const again = await openSocket(main.base, key);
    again.ws.send(JSON.stringify({ op: 'subscribe', types: ['echo'], jobs: [slow], after: seenId }));
    const answer = await again.next('subscribed');
    expect(answer.lastEventId).toMatch(/^\d+-\d+$/);
    const c = await submit(main, { type: 'echo', data: 'c' });
    const until = Date.now() + 5_000;
    while (!eventsOf(again).some((e) => e.jobId === c && e.status === 'completed')) {
      if (Date.now() > until) throw new Error(`no live event: ${JSON.stringify(again.messages)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    again.ws.close();
    const got = eventsOf(again);
    expect(again.messages.some((m) => m.type === 'snapshot' || m.type === 'reset')).toBe(false);
    expect(got.filter((e) => e.type === 'echo').map((e) => [e.jobId, e.status])).toEqual([
      [a, 'completed'],
      [b, 'active'],
      [b, 'completed'],
      [c, 'active'],
      [c, 'completed'],
    ]);
    expect(got.filter((e) => e.jobId === slow).at(-1)?.status).toBe('completed');
    expect(new Set(got.map((e) => e.id)).size).toBe(got.length);
  });

  it('answers a malformed `after` with an error naming it, and an id past the window with reset and snapshots', async () => {
    const socket = await openSocket(tiny.base, tiny.p.apiKey);
    socket.ws.send(JSON.stringify({ op: 'subscribe', types: ['echo'], after: 'nope' }));
    expect(String((await socket.next('error')).message)).toContain('after');
    const job = await submit(tiny, { type: 'echo', data: 'x' });
    socket.ws.send(JSON.stringify({ op: 'subscribe', jobs: [job], after: '1-0' }));
    const reset = await socket.next('reset');
    expect(reset).toMatchObject({ lastEventId: '1-0' });
    expect(((await socket.next('snapshot')).job as { id: string }).id).toBe(job);
    socket.ws.close();
  });
});
