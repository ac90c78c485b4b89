/**
 * Baseline for ingest: a bare Hono route doing queue.add, nothing else (no validation, auth,
 * idempotency or metrics). Env: REDIS_URL, QUEUE_PREFIX, PORT.
 */
import { serve } from '@hono/node-server';
import { Queue } from 'bullmq';
import { Hono } from 'hono';
import { Redis } from 'ioredis';

const connection = new Redis(process.env.REDIS_URL ?? '', {
  enableAutoPipelining: true,
  maxRetriesPerRequest: 1,
});
const queue = new Queue('default', { connection, prefix: process.env.QUEUE_PREFIX ?? 'bench' });
const app = new Hono().post('/jobs', async (c) => {
  const body = await c.req.json();
  const job = await queue.add('noop', body, { removeOnComplete: true });
  return c.json({ id: job.id }, 202);
});
serve({ fetch: app.fetch, port: Number(process.env.PORT), hostname: '127.0.0.1' }, () =>
  console.log('ready'),
);
