import type { JobRegistry } from '@conveyor/core/jobs';
import { Hono } from 'hono';
import type { ApiEnv } from '../api-env.js';
import { toInputJsonSchema } from '../openapi/json-schema.js';

/** GET /v1/job-types: every registered type with its options and input JSON Schema. */
export function jobTypeRoutes({ registry }: { registry: JobRegistry }): Hono<ApiEnv> {
  // Computed once: the registry does not change while the process runs.
  const body = {
    items: registry.definitions().map((d) => ({
      name: d.name,
      description: d.description,
      queue: d.queue,
      timeoutMs: d.timeoutMs,
      maxTimeoutMs: d.maxTimeoutMs,
      attempts: d.attempts,
      maxAttempts: d.maxAttempts,
      backoff: d.backoff,
      inputSchema: toInputJsonSchema(d.input),
    })),
  };
  return new Hono<ApiEnv>().get('/job-types', (c) => c.json(body));
}
