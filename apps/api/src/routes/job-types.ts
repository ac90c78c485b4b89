import { type Database, readJobTypes } from '@conveyor/core/db';
import { type JobRegistry, toRegistration } from '@conveyor/core/jobs';
import { Hono } from 'hono';
import type { ApiEnv } from '../api-env.js';
import { orUnavailable } from '../jobs/unavailable.js';

/**
 * GET /v1/job-types: every type this API accepts with its options and input JSON Schema,
 * and what workers registered of it: each version, when it was first registered and when a
 * worker last served it (`lastSeenAt` null: no worker has registered the type yet, so its
 * jobs wait).
 */
export function jobTypeRoutes({
  registry,
  database,
}: {
  registry: JobRegistry;
  database: Database;
}): Hono<ApiEnv> {
  // The API's own part is computed once: its registry does not change while it runs.
  const accepted = registry.definitions().map((d) => {
    const { version, inputSchema } = toRegistration(d);
    return {
      name: d.name,
      description: d.description,
      queue: d.queue,
      timeoutMs: d.timeoutMs,
      maxTimeoutMs: d.maxTimeoutMs,
      attempts: d.attempts,
      maxAttempts: d.maxAttempts,
      backoff: d.backoff,
      inputSchema,
      version,
    };
  });
  return new Hono<ApiEnv>().get('/job-types', async (c) => {
    const rows = await orUnavailable('Postgres', () => readJobTypes(database.db));
    const items = accepted.map((type) => {
      const versions = rows
        .filter((r) => r.name === type.name)
        .map((r) => ({
          version: r.version,
          registeredAt: r.registeredAt.toISOString(),
          lastSeenAt: r.lastSeenAt.toISOString(),
        }));
      const lastSeen = Math.max(...versions.map((v) => Date.parse(v.lastSeenAt)));
      return {
        ...type,
        lastSeenAt: versions.length === 0 ? null : new Date(lastSeen).toISOString(),
        versions,
      };
    });
    return c.json({ items });
  });
}
