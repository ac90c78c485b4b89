/**
 * 7. Event log: Redis memory of the replay window (each tenant's stream of status events,
 * XADD MAXLEN ~ 10,000 with the default retention) stays bounded however many events go
 * through it. On a redis-server private to the scenario (so nothing else on the machine's
 * Redis counts), N status events (a `completed` noop with a small result, as the worker
 * publishes them) go through `createEventPublisher` with the default retention, 1,000 in
 * flight on one auto-pipelined connection: once all to one tenant, once spread over 10
 * (100,000 each, so every window is trimmed away nine times over).
 * After each run: the longest log (XLEN), the logs' own size (MEMORY USAGE … SAMPLES 0,
 * exact), `used_memory` growth over the emptied server's, at half the events and at the end,
 * and a bound check: no log longer than `count` + 200 (approximate trimming drops whole
 * stream nodes, of at most 100 entries) and growth within 1.5 × tenants × `count` × the bytes
 * an event takes in a small untrimmed log, which an untrimmed log would overrun.
 *
 * Beside it, the old publisher (two plain PUBLISHes per event, to the job's and the
 * tenant's channel) sends the same events over the same tenants: redis-server CPU (INFO cpu,
 * user + system) per event of each and their ratio. Nobody subscribes in either (an event
 * nobody watches, the common case; a subscriber's delivery would cost both the same).
 */
import { randomUUID } from 'node:crypto';
import {
  createEventPublisher,
  DEFAULT_EVENT_RETENTION,
  eventChannels,
  eventLogKey,
  type StatusEvent,
} from '@conveyor/core/events';
import { startRedisServer } from '@conveyor/dev';
import { Redis } from 'ioredis';
import type { BenchSize, Figures } from '../kit.js';

const PREFIX = 'bench-events';
/** Publishes in flight at once on the connection. */
const IN_FLIGHT = 1_000;
/** Entries one approximate trim may leave beyond `count`: a stream node holds at most 100. */
const XLEN_SLACK = 200;
const MB = 1024 * 1024;
/** Turns each publisher takes in a run, alternately (even: memory is read at the half). */
const SLICES = 10;

/** Sends event `i` of a run: to which tenant, by which publisher. */
type Send = (event: StatusEvent, queueJobId: string) => Promise<unknown>;

function statusEvent(i: number, tenant: string): StatusEvent {
  return {
    jobId: randomUUID(),
    tenant,
    type: 'noop',
    queue: 'default',
    status: 'completed',
    attempt: 1,
    result: { ok: true, n: i },
    ts: new Date().toISOString(),
  };
}

/** Events `from`…`to` − 1, event `i` to tenant `i % tenants`, `IN_FLIGHT` lanes each awaiting its last. */
async function sendRange(send: Send, tenants: string[], from: number, to: number): Promise<void> {
  const lanes = Math.min(IN_FLIGHT, to - from);
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      for (let i = from + lane; i < to; i += lanes) {
        // The worker holds the job's BullMQ id (a UUID) and passes it: no hash per event.
        await send(statusEvent(i, tenants[i % tenants.length] ?? ''), randomUUID());
      }
    }),
  );
}

const infoField = (info: string, field: string) =>
  Number(new RegExp(`^${field}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);

const usedMemory = async (redis: Redis) => infoField(await redis.info('memory'), 'used_memory');

async function cpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  return infoField(info, 'used_cpu_user') + infoField(info, 'used_cpu_sys');
}

export async function eventLog(size: BenchSize): Promise<Figures> {
  const n = size.eventLog;
  const { count } = DEFAULT_EVENT_RETENTION;
  const server = await startRedisServer();
  const redis = new Redis(server.url, { maxRetriesPerRequest: null, enableAutoPipelining: true });
  const publisher = createEventPublisher(redis, PREFIX);
  const channels = eventChannels(PREFIX);
  const conveyor: Send = (event, id) => publisher.publish(event, id);
  // The publisher before the event log: the same JSON to the same two channels, unawaited
  // one by one, so both commands join the write of their tick.
  const baseline: Send = (event, id) => {
    const payload = JSON.stringify(event);
    return Promise.all([
      redis.publish(channels.queueJob(id), payload),
      redis.publish(channels.tenant(event.tenant), payload),
    ]);
  };
  const figures: Figures = { events: n, retentionCount: count };
  try {
    // What an event takes in a log that was never trimmed (this also loads the script, so
    // its cache is in every baseline below).
    const sample = Math.min(5_000, count / 2);
    await sendRange(conveyor, ['calibration'], 0, sample);
    const bytesPerEvent =
      ((await redis.call('MEMORY', 'USAGE', eventLogKey(PREFIX, 'calibration'), 'SAMPLES', '0')) as number) /
      sample;
    figures.bytesPerEvent = bytesPerEvent;
    const payloadBytes = JSON.stringify(statusEvent(n, 'calibration')).length;
    figures.payloadBytes = payloadBytes;
    let bounded = true;
    for (const spread of [1, 10]) {
      const tenants = Array.from({ length: spread }, (_, t) => `tenant-${t}`);
      const keys = tenants.map((t) => eventLogKey(PREFIX, t));
      await redis.flushall('SYNC');
      const before = await usedMemory(redis);
      // Slices of the events by each publisher in turn, so a drift in the machine's speed
      // (a VM's) lands on both alike; PUBLISH keeps nothing, so the baseline's slices leave
      // the memory alone.
      const spent = { conveyor: { cpu: 0, ms: 0 }, baseline: { cpu: 0, ms: 0 } };
      let atHalf = 0;
      let atEnd = 0;
      for (let slice = 0; slice < SLICES; slice++) {
        const from = Math.floor((n * slice) / SLICES);
        const to = Math.floor((n * (slice + 1)) / SLICES);
        for (const kind of ['conveyor', 'baseline'] as const) {
          const cpu0 = await cpuSeconds(redis);
          const t0 = performance.now();
          await sendRange(kind === 'conveyor' ? conveyor : baseline, tenants, from, to);
          spent[kind].ms += performance.now() - t0;
          spent[kind].cpu += (await cpuSeconds(redis)) - cpu0;
          if (kind === 'baseline') continue;
          if (slice === SLICES / 2 - 1) atHalf = (await usedMemory(redis)) - before;
          if (slice === SLICES - 1) atEnd = (await usedMemory(redis)) - before;
        }
      }
      const lengths = await Promise.all(keys.map((key) => redis.xlen(key)));
      const usages = await Promise.all(
        keys.map((key) => redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0') as Promise<number>),
      );
      const maxXlen = Math.max(...lengths);
      const bound = spread * count * bytesPerEvent * 1.5;
      const ok = maxXlen <= count + XLEN_SLACK && atEnd <= bound;
      bounded &&= ok;
      const at = `t${spread}`;
      const usPerEvent = (cpu: number) => (cpu * 1e6) / n;
      Object.assign(figures, {
        [`${at}MaxXlen`]: maxXlen,
        // Events trimmed away: 0 when the run never filled a window, which then shows no trimming.
        [`${at}Trimmed`]: n - lengths.reduce((a, b) => a + b, 0),
        [`${at}LogsMb`]: usages.reduce((a, b) => a + b, 0) / MB,
        [`${at}GrowthAtHalfMb`]: atHalf / MB,
        [`${at}GrowthMb`]: atEnd / MB,
        [`${at}EndVsHalf`]: atEnd / atHalf,
        [`${at}BoundMb`]: bound / MB,
        [`${at}Bounded`]: ok ? 1 : 0,
        [`${at}RedisUsPerEvent`]: usPerEvent(spent.conveyor.cpu),
        [`${at}BaselineRedisUsPerEvent`]: usPerEvent(spent.baseline.cpu),
        [`${at}RedisCpuRatio`]: spent.conveyor.cpu / spent.baseline.cpu,
        [`${at}EventsPerSec`]: (n * 1_000) / spent.conveyor.ms,
        [`${at}BaselineEventsPerSec`]: (n * 1_000) / spent.baseline.ms,
      });
    }
    figures.bounded = bounded ? 1 : 0;
  } finally {
    redis.disconnect();
    await server.stop();
  }
  return figures;
}
