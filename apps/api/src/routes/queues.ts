import { ConveyorError } from '@conveyor/core/errors';
import { internalQueues, QUEUE_COUNT_STATES } from '@conveyor/core/jobs';
import type { Queue } from 'bullmq';
import { Hono } from 'hono';
import type { ApiEnv } from '../api-env.js';
import { hasScope } from '../auth/principal.js';
import { orUnavailable } from '../jobs/unavailable.js';
import type { QueueSet } from '../queues.js';

/**
 * Queue depth per state, worker count and paused flag; pause and resume (operator). Queues
 * are shared by every tenant, so their depth and workers are everyone's business: only an
 * operator sees them. Anyone else gets each queue's name and paused flag, with `counts` and
 * `workers` null (their own jobs are in GET /v1/jobs). Conveyor's own queues (`schedules`,
 * `callbacks`) come last, marked `internal`.
 */
export function queueRoutes({ queues }: { queues: QueueSet }): Hono<ApiEnv> {
  const named = (name: string) => {
    const queue = queues.all().find((q) => q.name === name);
    if (!queue) {
      throw new ConveyorError(
        'QUEUE_NOT_FOUND',
        `no queue named ${name}; queues: ${queues
          .all()
          .map((q) => q.name)
          .join(', ')}`,
      );
    }
    return queue;
  };
  const describe = async (queue: Queue, operator: boolean, internal = false) => {
    queues.assertConnected();
    const { name } = queue;
    if (!operator) {
      const paused = await orUnavailable('Redis', () => queue.isPaused());
      return { name, internal, counts: null, paused, workers: null };
    }
    const [counts, paused, workers] = await orUnavailable('Redis', () =>
      Promise.all([queue.getJobCounts(...QUEUE_COUNT_STATES), queue.isPaused(), queue.getWorkersCount()]),
    );
    return { name, internal, counts, paused, workers };
  };
  return new Hono<ApiEnv>()
    .get('/queues', async (c) => {
      const principal = c.get('principal');
      const operator = principal !== undefined && hasScope(principal, 'operator');
      const items = await Promise.all([
        ...queues.all().map((q) => describe(q, operator)),
        // Conveyor's own queues (schedule ticks, webhook deliveries): listed, not pausable here.
        ...internalQueues.map((name) => describe(queues.internal(name), operator, true)),
      ]);
      return c.json({ items });
    })
    .post('/queues/:name/pause', async (c) => {
      const queue = named(c.req.param('name'));
      await orUnavailable('Redis', () => queue.pause());
      return c.json(await describe(queue, true));
    })
    .post('/queues/:name/resume', async (c) => {
      const queue = named(c.req.param('name'));
      await orUnavailable('Redis', () => queue.resume());
      return c.json(await describe(queue, true));
    });
}
