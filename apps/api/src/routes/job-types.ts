import type { Hono } from 'hono';
import type { ApiEnv } from '../api-env.js';
import type { JobTypeRegistry } from '../job-types/job-type-registry.js';
import { jobTypeListSchema } from '../openapi/response-schemas.js';
import { declareRoutes, type Operations } from './declare-routes.js';

export const jobTypeOperations = {
  listJobTypes: {
    method: 'get',
    path: '/v1/job-types',
    operationId: 'listJobTypes',
    tag: 'Job types',
    summary: 'Every job type with its options and input JSON Schema',
    scope: 'jobs:read',
    responses: { 200: { description: 'The registered job types.', schema: jobTypeListSchema } },
  },
} satisfies Operations;

/**
 * GET /v1/job-types: every type workers registered, which is every type the API accepts,
 * with the options, input JSON Schema and version it validates with, every registered
 * version, and when a worker last served the type (a type whose workers are all gone is
 * still accepted: its jobs wait).
 */
export function jobTypeRoutes({ registry }: { registry: JobTypeRegistry }): Hono<ApiEnv> {
  return declareRoutes(jobTypeOperations, {
    listJobTypes: (c) =>
      c.json({
        items: registry.definitions().map((t) => ({
          name: t.name,
          description: t.description,
          queue: t.queue,
          timeoutMs: t.timeoutMs,
          maxTimeoutMs: t.maxTimeoutMs,
          attempts: t.attempts,
          maxAttempts: t.maxAttempts,
          backoff: t.backoff,
          ...(t.ttlMs === undefined ? {} : { ttlMs: t.ttlMs }),
          ...(t.queueLimits === undefined ? {} : { queueLimits: t.queueLimits }),
          inputSchema: t.inputSchema,
          version: t.version,
          lastSeenAt: t.lastSeenAt.toISOString(),
          versions: t.versions.map((x) => ({
            version: x.version,
            registeredAt: x.registeredAt.toISOString(),
            lastSeenAt: x.lastSeenAt.toISOString(),
          })),
        })),
      }),
  });
}
