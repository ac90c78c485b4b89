import { ConveyorError } from '@conveyor/core/errors';
import { type Context, Hono } from 'hono';
import type { ApiEnv } from '../api-env.js';
import { parseIdempotencyKey } from '../jobs/idempotency.js';
import type { JobControl } from '../jobs/job-control.js';
import type { createJobLister } from '../jobs/job-list.js';
import type { JobStore } from '../jobs/job-store.js';
import type { JobSubmitter } from '../jobs/job-submitter.js';
import type { ApiMetrics } from '../metrics/api-metrics.js';
import { readJsonBody } from '../middleware/json-body.js';
import { resourceId } from '../resource-id.js';
import { tenantOf } from '../tenant.js';
import type { WebhookService } from '../webhooks/webhook-service.js';

/** The `:id` of the route, checked; noted on the request for its log line. */
function jobId(c: Context<ApiEnv>): string {
  const id = resourceId('job', c.req.param('id'));
  c.set('jobId', id);
  return id;
}

export interface JobRouteDeps {
  metrics: ApiMetrics;
  submitter: JobSubmitter;
  store: JobStore;
  control: JobControl;
  list: ReturnType<typeof createJobLister>;
  webhooks: WebhookService;
}

/** Submit, batch submit, list, get, cancel and retry jobs. */
export function jobRoutes({
  submitter,
  store,
  control,
  list,
  metrics,
  webhooks,
}: JobRouteDeps): Hono<ApiEnv> {
  return new Hono<ApiEnv>()
    .post('/jobs', async (c) => {
      const key = parseIdempotencyKey(c.req.header('idempotency-key'));
      const { created, job } = await submitter.submit(tenantOf(c), await readJsonBody(c), key, {
        requestId: c.get('requestId'),
      });
      c.set('jobId', job.id);
      if (created) metrics.jobsSubmitted.inc({ type: job.type });
      c.header('Location', job.links.self);
      return c.json(job, created ? 202 : 200);
    })
    .post('/jobs/batch', async (c) => {
      const { complete, items } = await submitter.submitBatch(tenantOf(c), await readJsonBody(c), {
        requestId: c.get('requestId'),
      });
      if (!complete) {
        const landed = items.filter((i) => i.outcome === 'enqueued' || i.outcome === 'duplicate').length;
        throw new ConveyorError(
          'UNAVAILABLE',
          `Redis failed during the batch: ${landed} of ${items.length} jobs are enqueued (see items); send the same ids again to enqueue the rest`,
          { retryable: true, details: { items } },
        );
      }
      for (const item of items)
        if (item.outcome === 'enqueued' && item.type) metrics.jobsSubmitted.inc({ type: item.type });
      return c.json({ items }, 202);
    })
    .get('/jobs', async (c) => c.json(await list(tenantOf(c), c.req.query())))
    .get('/jobs/:id', async (c) => c.json(await store.get(tenantOf(c), jobId(c))))
    .post('/jobs/:id/cancel', async (c) => c.json(await control.cancel(tenantOf(c), jobId(c))))
    .post('/jobs/:id/retry', async (c) =>
      c.json(await control.retry(tenantOf(c), jobId(c), { requestId: c.get('requestId') })),
    )
    .get('/jobs/:id/deliveries', async (c) => {
      const tenant = tenantOf(c);
      const id = jobId(c);
      // 404 for a job the tenant does not have, as for every other job route.
      await store.get(tenant, id);
      return c.json({ items: await webhooks.jobDeliveries(tenant, id) });
    });
}
