import { ConveyorError } from '@conveyor/core/errors';
import { MAX_BATCH_SIZE } from '@conveyor/core/jobs';
import type { Context, Hono } from 'hono';
import * as v from 'valibot';
import type { ApiEnv } from '../api-env.js';
import {
  bulkCancelBody,
  bulkRetryBody,
  type createBulkCancel,
  type createBulkRetry,
  MAX_BULK_CANCEL,
  MAX_BULK_RETRY,
} from '../jobs/bulk-retry.js';
import { parseIdempotencyKey } from '../jobs/idempotency.js';
import type { JobControl } from '../jobs/job-control.js';
import { type createJobLister, listJobsQuery } from '../jobs/job-list.js';
import type { JobStore } from '../jobs/job-store.js';
import type { JobSubmitter } from '../jobs/job-submitter.js';
import type { ApiMetrics } from '../metrics/api-metrics.js';
import { readJsonBody } from '../middleware/json-body.js';
import { jobIdParam } from '../openapi/operation-spec.js';
import {
  batchResponseSchema,
  bulkCancelResultSchema,
  bulkRetryResultSchema,
  deliveryListSchema,
  jobPageSchema,
  jobViewSchema,
  submitJobResponseSchema,
} from '../openapi/response-schemas.js';
import { resourceId } from '../resource-id.js';
import { tenantOf } from '../tenant.js';
import type { WebhookService } from '../webhooks/webhook-service.js';
import { declareRoutes, type Operations } from './declare-routes.js';

/** The `:id` of the route, checked; noted on the request for its log line. */
function jobId(c: Context<ApiEnv>): string {
  const id = resourceId('job', c.req.param('id'));
  c.set('jobId', id);
  return id;
}

export const jobOperations = {
  submitJob: {
    method: 'post',
    path: '/v1/jobs',
    operationId: 'submitJob',
    tag: 'Jobs',
    summary: 'Submit a job',
    description:
      "Validates `data` against the job type's schema, then enqueues the job. Submitting the same `id` (or `Idempotency-Key`) again returns the original job with 200 and does not run it twice; the same id with a different body is 409.",
    scope: 'jobs:write',
    headers: {
      'Idempotency-Key': {
        description: 'Makes the submit idempotent: the key names the job for IDEMPOTENCY_RETENTION_HOURS.',
        schema: v.pipe(v.string(), v.minLength(1), v.maxLength(255)),
      },
    },
    body: 'submit',
    responses: {
      202: {
        description: 'Accepted: a new job.',
        schema: submitJobResponseSchema,
        headers: { Location: "The job's URL." },
      },
      200: {
        description: 'This id or Idempotency-Key was already submitted: the original job.',
        schema: submitJobResponseSchema,
      },
    },
    problems: [409],
  },
  submitJobBatch: {
    method: 'post',
    path: '/v1/jobs/batch',
    operationId: 'submitJobBatch',
    tag: 'Jobs',
    summary: `Submit up to ${MAX_BATCH_SIZE} jobs`,
    description:
      'Every job is validated before any is enqueued (400 lists each invalid item). Items report their own outcome; a Redis failure midway is a 503 whose `items` tell which jobs landed.',
    scope: 'jobs:write',
    body: 'batch',
    responses: { 202: { description: 'Every job enqueued, or known already.', schema: batchResponseSchema } },
  },
  retryJobs: {
    method: 'post',
    path: '/v1/jobs/retry',
    operationId: 'retryJobs',
    tag: 'Jobs',
    summary: `Retry the failed, cancelled or expired jobs a filter matches (up to ${MAX_BULK_RETRY} a request)`,
    description: `The filters of GET /v1/jobs (\`status\` among failed, cancelled and expired, \`type\`, \`queue\`, \`scheduleId\`, a time range, \`tag\`, \`metadata\`), for the caller's tenant only. Each match is retried as POST /v1/jobs/:id/retry does, newest first, at most ${MAX_BULK_RETRY} per request: send \`nextCursor\` back as \`cursor\` until it is null. A job that cannot be retried (a flow node, a type no longer registered) is listed in \`skipped\` with the reason. \`dryRun: true\` counts every match and retries none.`,
    scope: 'jobs:write',
    body: bulkRetryBody,
    responses: { 200: { description: 'What the request did.', schema: bulkRetryResultSchema } },
  },
  cancelJobs: {
    method: 'post',
    path: '/v1/jobs/cancel',
    operationId: 'cancelJobs',
    tag: 'Jobs',
    summary: `Cancel the queued or running jobs a filter matches (up to ${MAX_BULK_CANCEL} a request)`,
    description: `The filters of GET /v1/jobs (\`status\` among queued and active, \`type\`, \`queue\`, \`scheduleId\`, a time range, \`tag\`, \`metadata\`), for the caller's tenant only. The matches are cancelled together as POST /v1/jobs/:id/cancel does (their rows first), at most ${MAX_BULK_CANCEL} per request; \`more: true\` says to send the same request again. \`dryRun: true\` counts every match and cancels none.`,
    scope: 'jobs:write',
    body: bulkCancelBody,
    responses: { 200: { description: 'What the request did.', schema: bulkCancelResultSchema } },
  },
  listJobs: {
    method: 'get',
    path: '/v1/jobs',
    operationId: 'listJobs',
    tag: 'Jobs',
    summary: 'List jobs',
    description:
      'In-flight jobs (from BullMQ) first, then finished ones (from Postgres, newest first), with cursor pagination. Besides the parameters below, `metadata.<key>=<value>` (up to 5) keeps the jobs whose metadata has that key with that value (the string, or the number or boolean it spells), e.g. `metadata.customer=42`.',
    scope: 'jobs:read',
    query: listJobsQuery,
    responses: { 200: { description: 'One page.', schema: jobPageSchema } },
  },
  getJob: {
    method: 'get',
    path: '/v1/jobs/:id',
    operationId: 'getJob',
    tag: 'Jobs',
    summary: 'Get a job',
    scope: 'jobs:read',
    pathParams: jobIdParam,
    responses: { 200: { description: 'The job now.', schema: jobViewSchema } },
    problems: [404],
  },
  cancelJob: {
    method: 'post',
    path: '/v1/jobs/:id/cancel',
    operationId: 'cancelJob',
    tag: 'Jobs',
    summary: 'Cancel a queued, delayed or running job',
    description: "A running job's handler is aborted through its AbortSignal on whichever worker runs it.",
    scope: 'jobs:write',
    pathParams: jobIdParam,
    responses: { 200: { description: 'The cancelled job.', schema: jobViewSchema } },
    problems: [404, 409],
  },
  retryJob: {
    method: 'post',
    path: '/v1/jobs/:id/retry',
    operationId: 'retryJob',
    tag: 'Jobs',
    summary: 'Run a failed, cancelled or expired job again',
    description: 'Same id; attempt numbers continue and earlier errors stay in `attemptErrors`.',
    scope: 'jobs:write',
    pathParams: jobIdParam,
    responses: { 200: { description: 'The job, queued again.', schema: jobViewSchema } },
    problems: [404, 409],
  },
  listJobDeliveries: {
    method: 'get',
    path: '/v1/jobs/:id/deliveries',
    operationId: 'listJobDeliveries',
    tag: 'Webhooks',
    summary: "Every delivery of one job's terminal status event, oldest first",
    description: "Its webhooks' deliveries and its own callbackUrl's, each with every attempt.",
    scope: 'admin',
    pathParams: jobIdParam,
    responses: { 200: { description: 'Every delivery of the job.', schema: deliveryListSchema } },
    problems: [404],
  },
} satisfies Operations;

export interface JobRouteDeps {
  metrics: ApiMetrics;
  submitter: JobSubmitter;
  store: JobStore;
  control: JobControl;
  list: ReturnType<typeof createJobLister>;
  webhooks: WebhookService;
  bulkRetry: ReturnType<typeof createBulkRetry>;
  bulkCancel: ReturnType<typeof createBulkCancel>;
}

/** Submit, batch submit, list, get, cancel and retry jobs. */
export function jobRoutes({
  submitter,
  store,
  control,
  list,
  metrics,
  webhooks,
  bulkRetry,
  bulkCancel,
}: JobRouteDeps): Hono<ApiEnv> {
  return declareRoutes(jobOperations, {
    submitJob: async (c) => {
      const key = parseIdempotencyKey(c.req.header('idempotency-key'));
      const { created, job } = await submitter.submit(tenantOf(c), await readJsonBody(c), key, {
        requestId: c.get('requestId'),
      });
      c.set('jobId', job.id);
      if (created) metrics.jobsSubmitted.inc({ type: job.type });
      c.header('Location', job.links.self);
      return c.json(job, created ? 202 : 200);
    },
    submitJobBatch: async (c) => {
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
    },
    listJobs: async (c) => c.json(await list(tenantOf(c), c.req.query())),
    cancelJobs: async (c) => c.json(await bulkCancel(tenantOf(c), await readJsonBody(c))),
    retryJobs: async (c) =>
      c.json(await bulkRetry(tenantOf(c), await readJsonBody(c), { requestId: c.get('requestId') })),
    getJob: async (c) => c.json(await store.get(tenantOf(c), jobId(c))),
    cancelJob: async (c) => c.json(await control.cancel(tenantOf(c), jobId(c))),
    retryJob: async (c) =>
      c.json(await control.retry(tenantOf(c), jobId(c), { requestId: c.get('requestId') })),
    listJobDeliveries: async (c) => {
      const tenant = tenantOf(c);
      const id = jobId(c);
      // 404 for a job the tenant does not have, as for every other job route.
      await store.get(tenant, id);
      return c.json({ items: await webhooks.jobDeliveries(tenant, id) });
    },
  });
}
