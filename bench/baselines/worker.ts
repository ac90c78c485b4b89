/** Baseline for drain: a raw BullMQ Worker with a no-op processor. Env: REDIS_URL, QUEUE_PREFIX, CONCURRENCY. */
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';

const connection = new Redis(process.env.REDIS_URL ?? '', {
  maxRetriesPerRequest: null,
  enableAutoPipelining: true,
});
const worker = new Worker('default', async () => null, {
  connection,
  prefix: process.env.QUEUE_PREFIX ?? 'bench',
  concurrency: Number(process.env.CONCURRENCY ?? 16),
  removeOnComplete: { count: 1_000 },
});
worker.on('ready', () => console.log('ready'));
process.on('SIGTERM', () => void worker.close().then(() => process.exit(0)));
