import { ConveyorError } from '@conveyor/core/errors';
import { Hono } from 'hono';
import type { ApiEnv } from '../api-env.js';
import { hasScope } from '../auth/principal.js';
import { orUnavailable } from '../jobs/unavailable.js';
import type { QueueSet } from '../queues.js';

/** States counted per queue. "waiting" depth is wait + prioritized (BullMQ keeps them apart). */
const STATES = ['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed'] as const;

/**
 * Queue depth per state, worker count and paused flag; pause and resume (operator). Queues
 * are shared by every tenant, so their depth and workers are everyone's business: only an
 * operator sees them. Anyone else gets each queue's name and paused flag, with `counts` and
 * `workers` null (their own jobs are in GET /v1/jobs).
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
  const describe = async (name: string, operator: boolean) => {
    queues.assertConnected();
    const queue = named(name);
    if (!operator) {
      const paused = await orUnavailable('Redis', () => queue.isPaused());
      return { name, counts: null, paused, workers: null };
    }
    const [counts, paused, workers] = await orUnavailable('Redis', () =>
      Promise.all([queue.getJobCounts(...STATES), queue.isPaused(), queue.getWorkersCount()]),
    );
    return { name, counts, paused, workers };
  };
  return new Hono<ApiEnv>()
    .get('/queues', async (c) => {
      const principal = c.get('principal');
      const operator = principal !== undefined && hasScope(principal, 'operator');
      return c.json({ items: await Promise.all(queues.all().map((q) => describe(q.name, operator))) });
    })
    .post('/queues/:name/pause', async (c) => {
      const queue = named(c.req.param('name'));
      await orUnavailable('Redis', () => queue.pause());
      return c.json(await describe(queue.name, true));
    })
    .post('/queues/:name/resume', async (c) => {
      const queue = named(c.req.param('name'));
      await orUnavailable('Redis', () => queue.resume());
      return c.json(await describe(queue.name, true));
    });
}
