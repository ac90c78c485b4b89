import type { Hono } from 'hono';
import type { ApiEnv } from '../api-env.js';
import { type JobStatsReader, jobStatsQuery } from '../jobs/job-stats.js';
import { jobStatsSchema } from '../openapi/response-schemas.js';
import { tenantOf } from '../tenant.js';
import { declareRoutes, type Operations } from './declare-routes.js';

export const statsOperations = {
  jobStats: {
    method: 'get',
    path: '/v1/stats',
    operationId: 'jobStats',
    tag: 'Jobs',
    summary: "The tenant's finished jobs per outcome, in total and per minute",
    description:
      'Counted from the terminal rows in Postgres, so failed, cancelled and expired jobs are apart ' +
      "(BullMQ's `failed` set, shown by GET /v1/queues, holds cancelled jobs too).",
    scope: 'jobs:read',
    query: jobStatsQuery,
    responses: { 200: { description: 'The window and its counts.', schema: jobStatsSchema } },
  },
} satisfies Operations;

/** GET /v1/stats: the caller's tenant's finished jobs per outcome, in total and per minute. */
export function statsRoutes({ stats }: { stats: JobStatsReader }): Hono<ApiEnv> {
  return declareRoutes(statsOperations, {
    jobStats: async (c) => c.json(await stats(tenantOf(c), c.req.query())),
  });
}
