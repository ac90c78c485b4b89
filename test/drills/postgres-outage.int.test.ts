import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrateDatabase } from '@conveyor/core/db';
import { type EmbeddedPostgresHandle, freePort, startEmbeddedPostgres } from '@conveyor/dev';
import { useTestServices } from '@conveyor/dev/testing';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AppProcess,
  assertAllCompleted,
  assertExactlyOnce,
  startApi,
  startWorker,
  stopApp,
  submitMany,
  waitForRows,
} from './drill-kit.js';

const services = useTestServices();
let dir: string;
let port: number;
let pg: EmbeddedPostgresHandle;
let redis: Redis;
const started: AppProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'conveyor-pg-drill-'));
  port = await freePort();
  pg = await startEmbeddedPostgres({ dataDir: join(dir, 'data'), port, persistent: true });
  await migrateDatabase(pg.url);
  redis = new Redis(services.redisUrl);
});
afterAll(async () => {
  await Promise.all(started.map((p) => stopApp(p, 'SIGKILL')));
  await pg.stop();
  redis.disconnect();
  await rm(dir, { recursive: true, force: true });
});

describe('drill: Postgres outage', { timeout: 120_000 }, () => {
  it('acknowledges no job without its row, retries the writes, and completes everything after recovery', async () => {
    const drill = { ...services, databaseUrl: pg.url };
    const api = await startApi(drill);
    started.push(api.process);
    const workerPort = await freePort();
    started.push(await startWorker(drill, { WORKER_CONCURRENCY: '16', WORKER_PORT: String(workerPort) }));
    const ids = await submitMany(api.url, 400, (i) => ({ type: 'sleep', data: { ms: 20 + (i % 30) } }));
    const completedKey = `${services.prefix}:default:completed`;

    await new Promise((resolve) => setTimeout(resolve, 300));
    await pg.stop();
    const outageStart = Date.now();
    // Writes that were already committing settle; after that, nothing may be acknowledged.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const ackedAtStart = await redis.zcard(completedKey);
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    const ackedAtEnd = await redis.zcard(completedKey);
    const workerReady = await fetch(`http://127.0.0.1:${workerPort}/health/ready`);
    const apiReady = await fetch(`${api.url}/health/ready`);
    expect(ackedAtEnd).toBe(ackedAtStart);
    expect(ackedAtStart).toBeLessThan(ids.length);
    expect(workerReady.status).toBe(503);
    expect(((await apiReady.json()) as { checks: { postgres: string } }).checks.postgres).not.toBe('ok');

    pg = await startEmbeddedPostgres({ dataDir: join(dir, 'data'), port, persistent: true });
    const outageMs = Date.now() - outageStart;
    const rows = await waitForRows(postgres(pg.url, { max: 1, onnotice: () => {} }), ids, 60_000);
    assertExactlyOnce(ids, rows);
    assertAllCompleted(rows);
    console.log(
      `[drill] Postgres down ${outageMs} ms: ${ackedAtStart} of ${ids.length} acknowledged before, none during, all ${rows.length} recorded after`,
    );
  });
});
