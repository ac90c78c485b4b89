import { Hono } from 'hono';
import type { ApiEnv } from '../api-env.js';
import type { JobStatsReader } from '../jobs/job-stats.js';
import { tenantOf } from '../tenant.js';

/** GET /v1/stats: the caller's tenant's finished jobs per outcome, in total and per minute. */
export function statsRoutes({ stats }: { stats: JobStatsReader }): Hono<ApiEnv> {
  return new Hono<ApiEnv>().get('/stats', async (c) => c.json(await stats(tenantOf(c), c.req.query())));
}
