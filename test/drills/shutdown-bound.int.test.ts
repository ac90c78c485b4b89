import { connect, createServer, type Server, type Socket } from 'node:net';
import { freePort, type RedisServerHandle, startRedisServer } from '@conveyor/dev';
import { useTestServices } from '@conveyor/dev/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppProcess, startApi, startWorker, stopApp, submitMany } from './drill-kit.js';

const services = useTestServices();
const GRACE_MS = 1_000;
/** What the bound promises: the grace period plus a few seconds. */
const BOUND_MS = GRACE_MS + 5_000;
const started: AppProcess[] = [];
let redis: RedisServerHandle;

beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await Promise.all(started.map((p) => stopApp(p, 'SIGKILL')));
  redis.kill('SIGCONT');
  await redis.stop();
});

/**
 * A TCP proxy to `target` that can be frozen: from then on nothing crosses it either way and
 * new connections are held open unanswered, as when a host stops answering (no RST, no FIN).
 */
async function freezableProxy(target: { host: string; port: number }) {
  const sockets = new Set<Socket>();
  const pairs: [Socket, Socket][] = [];
  let frozen = false;
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('error', () => {});
    if (frozen) return;
    const upstream = connect(target.port, target.host);
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
    pairs.push([client, upstream]);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    freeze() {
      frozen = true;
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Sends SIGTERM and answers how long the process took to exit, or undefined past `limitMs`. */
async function timeToExit(app: AppProcess, limitMs: number): Promise<number | undefined> {
  const t0 = Date.now();
  app.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), limitMs);
  });
  const ms = await Promise.race([app.exited.then(() => Date.now() - t0), late]);
  clearTimeout(timer);
  return ms;
}

describe('drill: shutdown bound', { timeout: 60_000 }, () => {
  it('a worker whose Redis stopped answering exits within SHUTDOWN_GRACE_MS plus a few seconds of SIGTERM, saying it gave up', async () => {
    const drill = { ...services, redisUrl: redis.url };
    const api = await startApi(drill);
    started.push(api.process);
    const worker = await startWorker(drill, { SHUTDOWN_GRACE_MS: String(GRACE_MS) });
    started.push(worker);
    // A job running when Redis goes away: the worker can neither finish nor hand it back.
    await submitMany(api.url, 1, () => ({ type: 'sleep', data: { ms: 60_000 } }));
    await new Promise((resolve) => setTimeout(resolve, 500));
    redis.kill('SIGSTOP');

    const ms = await timeToExit(worker, BOUND_MS);
    redis.kill('SIGCONT');
    expect(ms, `still running ${BOUND_MS} ms after SIGTERM:\n${worker.output()}`).toBeDefined();
    expect(ms).toBeGreaterThanOrEqual(GRACE_MS);
    expect(await worker.exited).toBe(1);
    expect(worker.output()).toMatch(/gave up waiting/);
  });

  it('a worker whose Postgres stopped answering exits within SHUTDOWN_GRACE_MS plus a few seconds of SIGTERM', async () => {
    const url = new URL(services.databaseUrl);
    const proxy = await freezableProxy({ host: url.hostname, port: Number(url.port || 5432) });
    try {
      const api = await startApi(services);
      started.push(api.process);
      const proxied = new URL(services.databaseUrl);
      proxied.hostname = '127.0.0.1';
      proxied.port = String(proxy.port);
      const worker = await startWorker(
        { ...services, databaseUrl: proxied.toString() },
        { SHUTDOWN_GRACE_MS: String(GRACE_MS) },
      );
      started.push(worker);
      // Postgres stops answering while the job runs: its terminal row cannot be written.
      await submitMany(api.url, 1, () => ({ type: 'sleep', data: { ms: 300 } }));
      proxy.freeze();
      await new Promise((resolve) => setTimeout(resolve, 1_000));

      const ms = await timeToExit(worker, BOUND_MS);
      expect(ms, `still running ${BOUND_MS} ms after SIGTERM:\n${worker.output()}`).toBeDefined();
      expect(await worker.exited).toBe(1);
      expect(worker.output()).toMatch(/gave up waiting/);
    } finally {
      await proxy.close();
    }
  });
});
