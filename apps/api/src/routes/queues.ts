import { ConveyorError } from '@conveyor/core/errors';
import { Hono } from 'hono';
import type { ApiEnv } from '../api-env.js';
import { orUnavailable } from '../jobs/unavailable.js';
import type { QueueSet } from '../queues.js';

/** States counted per queue. "waiting" depth is wait + prioritized (BullMQ keeps them apart). */
const STATES = ['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed'] as const;

/** Queue depth per state, worker count and paused flag; pause and resume (admin). */
export function queueRoutes({ queues }: { queues: QueueSet }): Hono<ApiEnv> {
  const named = (name: string) => {
    const queue = queues.all().find((q) => q.name === name);
    if (!queue) {
      throw new ConveyorError(
        'NOT_FOUND',
        `no queue named ${name}; queues: ${queues
          .all()
          .map((q) => q.name)
          .join(', ')}`,
      );
    }
    return queue;
  };
  const describe = async (name: string) => {
    queues.assertConnected();
    const queue = named(name);
    const [counts, paused, workers] = await orUnavailable('Redis', () =>
      Promise.all([queue.getJobCounts(...STATES), queue.isPaused(), queue.getWorkersCount()]),
    );
    return { name, counts, paused, workers };
  };
  return new Hono<ApiEnv>()
    .get('/queues', async (c) =>
      c.json({ items: await Promise.all(queues.all().map((q) => describe(q.name))) }),
    )
    .post('/queues/:name/pause', async (c) => {
      const queue = named(c.req.param('name'));
      await orUnavailable('Redis', () => queue.pause());
      return c.json(await describe(queue.name));
    })
    .post('/queues/:name/resume', async (c) => {
      const queue = named(c.req.param('name'));
      await orUnavailable('Redis', () => queue.resume());
      return c.json(await describe(queue.name));
    });
}
