import { ConveyorError } from '@conveyor/core/errors';
import { Hono } from 'hono';
import type { ApiEnv } from '../api-env.js';
import type { JobStore } from '../jobs/job-store.js';
import type { JobSubmitter } from '../jobs/job-submitter.js';
import { readJsonBody } from '../middleware/json-body.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The tenant of a request; every request is the default tenant until authentication lands. */
const DEFAULT_TENANT = 'default';

function jobId(raw: string): string {
  if (!UUID.test(raw)) {
    throw new ConveyorError('VALIDATION_FAILED', 'invalid job id: must be a UUID', {
      issues: [{ path: 'id', message: 'must be a UUID' }],
    });
  }
  return raw.toLowerCase();
}

/** POST /v1/jobs and GET /v1/jobs/:id. */
export function jobRoutes({ submitter, store }: { submitter: JobSubmitter; store: JobStore }): Hono<ApiEnv> {
  return new Hono<ApiEnv>()
    .post('/jobs', async (c) => {
      const { created, job } = await submitter.submit(DEFAULT_TENANT, await readJsonBody(c));
      c.header('Location', job.links.self);
      return c.json(job, created ? 202 : 200);
    })
    .get('/jobs/:id', async (c) => {
      return c.json(await store.get(DEFAULT_TENANT, jobId(c.req.param('id'))));
    });
}
