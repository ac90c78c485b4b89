import { createServer } from 'node:net';
import { createDatabase, readJobTypes } from '@conveyor/core/db';
import { createLogger } from '@conveyor/core/log';
import { createRedis } from '@conveyor/core/redis';
import { freePort } from '@conveyor/dev';
import { useTestServices } from '@conveyor/dev/testing';
import { defineJob } from '@conveyor/sdk';
import { Queue } from 'bullmq';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { runWorker } from './run-worker.js';

const services = useTestServices();
const logger = createLogger({ name: 'test', level: 'silent' });
const resize = defineJob({
  name: 'acme.resize',
  description: 'Resizes an image (pretend).',
  queue: 'images',
  input: v.object({ width: v.pipe(v.number(), v.integer(), v.minValue(1)) }),
  run: async ({ width }) => ({ width }),
});
const env = () => ({
  REDIS_URL: services.redisUrl,
  DATABASE_URL: services.databaseUrl,
  QUEUE_PREFIX: services.prefix,
  SHUTDOWN_GRACE_MS: '500',
});

describe('runWorker', () => {
  it("registers the project's own types, serves health on WORKER_PORT and closes cleanly", async () => {
    const port = await freePort();
    const worker = await runWorker({
      jobs: { resize },
      env: { ...env(), WORKER_PORT: String(port) },
      logger,
      handleSignals: false,
    });
    try {
      expect(worker.queues).toEqual(['images', 'schedules', 'callbacks']);
      expect(worker.port).toBe(port);
      const ready = await fetch(`http://127.0.0.1:${port}/health/ready`);
      expect(ready.status).toBe(200);
      const database = createDatabase(services.databaseUrl, { max: 1 });
      const registered = await readJobTypes(database.db);
      await database.close();
      expect(registered.map((t) => [t.name, t.queue])).toEqual([['acme.resize', 'images']]);
    } finally {
      await worker.close();
    }
    await expect(fetch(`http://127.0.0.1:${port}/health/live`)).rejects.toThrow();
    // close() is idempotent.
    await worker.close();
  });

  it('reads settings from env under the ones passed in config', async () => {
    const worker = await runWorker({
      jobs: [resize],
      env: { ...env(), WORKER_PORT: '1' },
      config: { WORKER_PORT: 0, WORKER_QUEUES: ['images'] },
      logger,
      handleSignals: false,
    });
    expect(worker.port).toBeUndefined();
    expect(worker.queues).toEqual(['images']);
    await worker.close();
  });

  it('refuses a WORKER_PORT in use with a message naming it, and leaves no connection open', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '0.0.0.0', resolve));
    const address = taken.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      await expect(
        runWorker({
          jobs: [resize],
          env: { ...env(), WORKER_PORT: String(port) },
          logger,
          handleSignals: false,
        }),
      ).rejects.toThrow(`WORKER_PORT ${port} is in use by another process`);
      // The failed start handed nothing to BullMQ: no worker of it is listed on the queue.
      const connection = createRedis(services.redisUrl, 'producer');
      const queue = new Queue('images', { connection, prefix: services.prefix });
      await expect.poll(async () => (await queue.getWorkers()).length, { timeout: 3_000 }).toBe(0);
      await queue.close();
      connection.disconnect();
    } finally {
      taken.close();
    }
  });

  it('names a bad variable and a bad definition before connecting anywhere', async () => {
    await expect(
      runWorker({ jobs: [resize], env: { ...env(), WORKER_CONCURRENCY: 'lots' }, handleSignals: false }),
    ).rejects.toThrow(/WORKER_CONCURRENCY/);
    await expect(
      runWorker({ jobs: [resize, resize], env: env(), logger, handleSignals: false }),
    ).rejects.toThrow('job type "acme.resize" is defined twice');
  });
});
