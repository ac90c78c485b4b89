import { Hono } from 'hono';
import type { ApiEnv } from '../api-env.js';
import { readJsonBody } from '../middleware/json-body.js';
import type { ScheduleService } from '../schedules/schedule-service.js';
import { tenantOf } from '../tenant.js';

/** Create, list, read, change (pause, resume) and delete the schedules of the caller's tenant. */
export function scheduleRoutes({ schedules }: { schedules: ScheduleService }): Hono<ApiEnv> {
  return new Hono<ApiEnv>()
    .post('/schedules', async (c) => {
      const schedule = await schedules.create(tenantOf(c), await readJsonBody(c));
      c.header('Location', schedule.links.self);
      return c.json(schedule, 201);
    })
    .get('/schedules', async (c) => c.json(await schedules.list(tenantOf(c), c.req.query())))
    .get('/schedules/:id', async (c) => c.json(await schedules.get(tenantOf(c), c.req.param('id'))))
    .patch('/schedules/:id', async (c) =>
      c.json(await schedules.update(tenantOf(c), c.req.param('id'), await readJsonBody(c))),
    )
    .delete('/schedules/:id', async (c) => {
      await schedules.remove(tenantOf(c), c.req.param('id'));
      return c.body(null, 204);
    });
}
