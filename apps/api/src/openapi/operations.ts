import { createWebhookBody, updateWebhookBody } from '@conveyor/core/callbacks';
import { MAX_BATCH_SIZE } from '@conveyor/core/jobs';
import { createScheduleBody, updateScheduleBody } from '@conveyor/core/schedules';
import * as v from 'valibot';
import type { Scope } from '../auth/principal.js';
import { listJobsQuery } from '../jobs/job-list.js';
import { jobStatsQuery } from '../jobs/job-stats.js';
import { firehoseQuery } from '../routes/events.js';
import { createKeyBody } from '../routes/keys.js';
import { wsClientMessage } from '../routes/ws.js';
import { listSchedulesQuery } from '../schedules/schedule-service.js';
import {
  dashboardAssetNames,
  dashboardAssets,
  docsAssetNames,
  docsAssets,
  type UiAsset,
} from '../ui/ui-assets.js';
import { listDeliveriesQuery } from '../webhooks/webhook-service.js';
import {
  batchResponseSchema,
  createdKeySchema,
  createdWebhookSchema,
  deliveryListSchema,
  deliveryPageSchema,
  deliveryViewSchema,
  healthSchema,
  jobPageSchema,
  jobStatsSchema,
  jobTypeListSchema,
  jobViewSchema,
  keyListSchema,
  queueInfoSchema,
  queueListSchema,
  schedulePageSchema,
  scheduleViewSchema,
  signingSecretSchema,
  submitJobResponseSchema,
  updatedWebhookSchema,
  webhookListSchema,
  webhookViewSchema,
} from './response-schemas.js';

/** One documented answer of an operation. */
export interface ResponseSpec {
  description: string;
  /** The body's schema; none for an empty body. */
  schema?: v.GenericSchema;
  /** The content type, or several when the route serves files of different kinds. @defaultValue application/json */
  mediaType?: string | readonly string[];
  /** Response headers worth knowing, by name. */
  headers?: Record<string, string>;
}

/**
 * One route of the API as the OpenAPI document shows it. Schemas are the valibot schemas the
 * route validates with (or answers with); the document is generated from them. Problem
 * answers are listed by status: their codes come from the one code→status table.
 */
export interface OperationSpec {
  method: 'get' | 'post' | 'patch' | 'delete';
  /** The Hono route template, e.g. `/v1/jobs/:id`. */
  path: string;
  operationId: string;
  tag: string;
  summary: string;
  description?: string;
  /** The scope the route needs; absent: public (no API key). */
  scope?: Scope;
  pathParams?: Record<string, { description: string; schema: v.GenericSchema }>;
  /** An object schema: each entry is one query parameter. */
  query?: v.ObjectSchema<v.ObjectEntries, undefined> | v.StrictObjectSchema<v.ObjectEntries, undefined>;
  headers?: Record<string, { description: string; schema: v.GenericSchema }>;
  /** A JSON body; `submit` and `batch` are built per job type from the registry. */
  body?: v.GenericSchema | 'submit' | 'batch';
  responses: Record<number, ResponseSpec>;
  /** Statuses answered with problem+json, besides those every /v1 route and every body may get. */
  problems?: number[];
}

const jobId = {
  id: { description: 'The job id (a UUID).', schema: v.pipe(v.string(), v.uuid()) },
};
const queueName = { name: { description: 'A queue name from GET /v1/queues.', schema: v.string() } };
const scheduleId = {
  id: { description: 'The schedule id (a UUID).', schema: v.pipe(v.string(), v.uuid()) },
};
const webhookId = {
  id: { description: 'The webhook id (a UUID).', schema: v.pipe(v.string(), v.uuid()) },
};
/** The distinct content types of a set of served files. */
const contentTypes = (assets: Record<string, UiAsset>) => [
  ...new Set(Object.values(assets).map((a) => a.contentType.split(';')[0] ?? a.contentType)),
];
const sse = (description: string): ResponseSpec => ({
  description,
  mediaType: 'text/event-stream',
  schema: v.string(),
});

/** Every route the API serves. The OpenAPI test fails when a route is missing here, or one here is not served. */
export const operations: readonly OperationSpec[] = [
  {
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
  {
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
  {
    method: 'get',
    path: '/v1/jobs',
    operationId: 'listJobs',
    tag: 'Jobs',
    summary: 'List jobs',
    description:
      'In-flight jobs (from BullMQ) first, then finished ones (from Postgres, newest first), with cursor pagination.',
    scope: 'jobs:read',
    query: listJobsQuery,
    responses: { 200: { description: 'One page.', schema: jobPageSchema } },
  },
  {
    method: 'get',
    path: '/v1/jobs/:id',
    operationId: 'getJob',
    tag: 'Jobs',
    summary: 'Get a job',
    scope: 'jobs:read',
    pathParams: jobId,
    responses: { 200: { description: 'The job now.', schema: jobViewSchema } },
    problems: [404],
  },
  {
    method: 'post',
    path: '/v1/jobs/:id/cancel',
    operationId: 'cancelJob',
    tag: 'Jobs',
    summary: 'Cancel a queued, delayed or running job',
    description: "A running job's handler is aborted through its AbortSignal on whichever worker runs it.",
    scope: 'jobs:write',
    pathParams: jobId,
    responses: { 200: { description: 'The cancelled job.', schema: jobViewSchema } },
    problems: [404, 409],
  },
  {
    method: 'post',
    path: '/v1/jobs/:id/retry',
    operationId: 'retryJob',
    tag: 'Jobs',
    summary: 'Run a failed, cancelled or expired job again',
    description: 'Same id; attempt numbers continue and earlier errors stay in `attemptErrors`.',
    scope: 'jobs:write',
    pathParams: jobId,
    responses: { 200: { description: 'The job, queued again.', schema: jobViewSchema } },
    problems: [404, 409],
  },
  {
    method: 'get',
    path: '/v1/jobs/:id/events',
    operationId: 'streamJobEvents',
    tag: 'Streams',
    summary: "Follow one job's status (SSE)",
    scope: 'jobs:read',
    pathParams: jobId,
    responses: {
      200: sse(
        'Server-sent events: `event: snapshot` with the JobView first, then `event: status` with a StatusEvent per change; closed after the terminal one. Comment lines are heartbeats.',
      ),
    },
    problems: [404],
  },
  {
    method: 'get',
    path: '/v1/events',
    operationId: 'streamEvents',
    tag: 'Streams',
    summary: "The tenant's event firehose (SSE)",
    scope: 'jobs:read',
    query: firehoseQuery,
    responses: {
      200: sse('Server-sent events: `event: status` with a StatusEvent per change of any matching job.'),
    },
  },
  {
    method: 'get',
    path: '/v1/ws',
    operationId: 'openWebSocket',
    tag: 'Streams',
    summary: 'Subscribe to jobs and types over a WebSocket',
    description:
      'Send WsClientMessage objects (`{"op":"subscribe","jobs":[ids],"types":[names]}`); receive `{"type":"snapshot","job"}`, `{"type":"event","event"}`, `{"type":"subscribed"|"unsubscribed"}` and `{"type":"error","message"}`.',
    scope: 'jobs:read',
    responses: { 101: { description: 'Switching protocols: the WebSocket is open.' } },
  },
  {
    method: 'get',
    path: '/v1/queues',
    operationId: 'listQueues',
    tag: 'Queues',
    summary: 'Depth per state, workers and paused flag of every queue',
    description:
      "Queues are shared by every tenant. With the `operator` scope each queue shows its depth per state (all tenants' jobs) and its workers; without it `counts` and `workers` are null, so no tenant learns another's load: list your own jobs with GET /v1/jobs.",
    scope: 'jobs:read',
    responses: { 200: { description: 'Every queue.', schema: queueListSchema } },
  },
  {
    method: 'post',
    path: '/v1/queues/:name/pause',
    operationId: 'pauseQueue',
    tag: 'Queues',
    summary: 'Pause a queue: workers take no new jobs from it',
    description:
      'The queue is shared by every tenant, so this needs `operator`, which `admin` does not imply; anyone else gets 403 naming the missing scope.',
    scope: 'operator',
    pathParams: queueName,
    responses: { 200: { description: 'The queue, paused.', schema: queueInfoSchema } },
    problems: [404],
  },
  {
    method: 'post',
    path: '/v1/queues/:name/resume',
    operationId: 'resumeQueue',
    tag: 'Queues',
    summary: 'Resume a paused queue',
    description: 'Needs `operator`, as pausing does.',
    scope: 'operator',
    pathParams: queueName,
    responses: { 200: { description: 'The queue, running.', schema: queueInfoSchema } },
    problems: [404],
  },
  {
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
  {
    method: 'get',
    path: '/v1/job-types',
    operationId: 'listJobTypes',
    tag: 'Job types',
    summary: 'Every job type with its options and input JSON Schema',
    scope: 'jobs:read',
    responses: { 200: { description: 'The registered job types.', schema: jobTypeListSchema } },
  },
  {
    method: 'post',
    path: '/v1/schedules',
    operationId: 'createSchedule',
    tag: 'Schedules',
    summary: 'Create a cron or interval schedule',
    description:
      "Each run submits a job of `type` with `data` (checked against the type's schema, `JobInput.<type>`) and the given job options. Give a `cron` pattern (read in `tz`, UTC by default) or `everyMs`, optionally bounded by `startAt`, `endAt` and `limit`. Postgres holds the schedule; BullMQ's job scheduler follows it.",
    scope: 'jobs:write',
    body: createScheduleBody,
    responses: {
      201: {
        description: 'Created, with its next run times.',
        schema: scheduleViewSchema,
        headers: { Location: "The schedule's URL." },
      },
    },
  },
  {
    method: 'get',
    path: '/v1/schedules',
    operationId: 'listSchedules',
    tag: 'Schedules',
    summary: "The tenant's schedules, oldest first",
    scope: 'jobs:read',
    query: listSchedulesQuery,
    responses: { 200: { description: 'One page.', schema: schedulePageSchema } },
  },
  {
    method: 'get',
    path: '/v1/schedules/:id',
    operationId: 'getSchedule',
    tag: 'Schedules',
    summary: 'Get a schedule with its next run times and last runs',
    scope: 'jobs:read',
    pathParams: scheduleId,
    responses: { 200: { description: 'The schedule, with `lastRuns`.', schema: scheduleViewSchema } },
    problems: [404],
  },
  {
    method: 'patch',
    path: '/v1/schedules/:id',
    operationId: 'updateSchedule',
    tag: 'Schedules',
    summary: 'Change, pause or resume a schedule',
    description:
      'Any field of the create body; an absent field keeps its value, `null` clears an optional one, and setting `cron` drops `everyMs` (and the other way round). `{"paused": true}` pauses it.',
    scope: 'jobs:write',
    pathParams: scheduleId,
    body: updateScheduleBody,
    responses: { 200: { description: 'The schedule as changed.', schema: scheduleViewSchema } },
    problems: [404],
  },
  {
    method: 'delete',
    path: '/v1/schedules/:id',
    operationId: 'deleteSchedule',
    tag: 'Schedules',
    summary: 'Delete a schedule',
    description: 'No run starts after this; jobs it already submitted are left alone.',
    scope: 'jobs:write',
    pathParams: scheduleId,
    responses: { 204: { description: 'Deleted.' } },
    problems: [404],
  },
  {
    method: 'post',
    path: '/v1/webhooks',
    operationId: 'createWebhook',
    tag: 'Webhooks',
    summary: "Subscribe a URL to the tenant's terminal status events",
    description:
      'Each matching job end is POSTed, signed with the webhook\'s `secret` (`Conveyor-Signature: t=…,v1=<HMAC-SHA256 of "<t>.<body>">`), with retries and exponential backoff.',
    scope: 'admin',
    body: createWebhookBody,
    responses: {
      201: {
        description: 'Created; the answer holds its secret, the only time it is shown.',
        schema: createdWebhookSchema,
        headers: { Location: "The webhook's URL." },
      },
    },
  },
  {
    method: 'get',
    path: '/v1/webhooks',
    operationId: 'listWebhooks',
    tag: 'Webhooks',
    summary: "The tenant's webhooks (never their secrets)",
    scope: 'admin',
    responses: {
      200: { description: 'Every webhook of the tenant, oldest first.', schema: webhookListSchema },
    },
  },
  {
    method: 'get',
    path: '/v1/webhooks/:id',
    operationId: 'getWebhook',
    tag: 'Webhooks',
    summary: 'Get a webhook (without its secret)',
    scope: 'admin',
    pathParams: webhookId,
    responses: { 200: { description: 'The webhook.', schema: webhookViewSchema } },
    problems: [404],
  },
  {
    method: 'patch',
    path: '/v1/webhooks/:id',
    operationId: 'updateWebhook',
    tag: 'Webhooks',
    summary: 'Change, enable or disable a webhook, or replace its secret',
    description: 'Absent fields keep their value. Disabling it ends its pending deliveries.',
    scope: 'admin',
    pathParams: webhookId,
    body: updateWebhookBody,
    responses: {
      200: {
        description: 'The webhook as changed; with `secret` only when the body set one.',
        schema: updatedWebhookSchema,
      },
    },
    problems: [404],
  },
  {
    method: 'delete',
    path: '/v1/webhooks/:id',
    operationId: 'deleteWebhook',
    tag: 'Webhooks',
    summary: 'Delete a webhook',
    description: 'Its pending deliveries end (recorded `failed`); its delivery records stay.',
    scope: 'admin',
    pathParams: webhookId,
    responses: { 204: { description: 'Deleted.' } },
    problems: [404],
  },
  {
    method: 'get',
    path: '/v1/webhooks/:id/deliveries',
    operationId: 'listWebhookDeliveries',
    tag: 'Webhooks',
    summary: "A webhook's deliveries, newest first, with every attempt",
    scope: 'admin',
    pathParams: webhookId,
    query: listDeliveriesQuery,
    responses: { 200: { description: 'One page.', schema: deliveryPageSchema } },
    problems: [404],
  },
  {
    method: 'post',
    path: '/v1/webhooks/:id/deliveries/:deliveryId/redeliver',
    operationId: 'redeliverWebhookDelivery',
    tag: 'Webhooks',
    summary: "Sends a delivery's event again, as a new delivery",
    description:
      'The new delivery (its own id, `redeliveryOf` the original) POSTs the same status event to the ' +
      "webhook's current URL, with every attempt again. 409 while the webhook is disabled.",
    scope: 'admin',
    pathParams: {
      ...webhookId,
      deliveryId: {
        description: 'The delivery to send again (a UUID).',
        schema: v.pipe(v.string(), v.uuid()),
      },
    },
    responses: { 202: { description: 'The new delivery, pending.', schema: deliveryViewSchema } },
    problems: [404, 409],
  },
  {
    method: 'get',
    path: '/v1/jobs/:id/deliveries',
    operationId: 'listJobDeliveries',
    tag: 'Webhooks',
    summary: "Every delivery of one job's terminal status event, oldest first",
    description: "Its webhooks' deliveries and its own callbackUrl's, each with every attempt.",
    scope: 'admin',
    pathParams: jobId,
    responses: { 200: { description: 'Every delivery of the job.', schema: deliveryListSchema } },
    problems: [404],
  },
  {
    method: 'get',
    path: '/v1/webhooks/signing-secret',
    operationId: 'getSigningSecret',
    tag: 'Webhooks',
    summary: "The key that signs deliveries to jobs' own callbackUrl",
    description: 'Made on first use; one per tenant.',
    scope: 'admin',
    responses: { 200: { description: 'The signing secret.', schema: signingSecretSchema } },
  },
  {
    method: 'post',
    path: '/v1/webhooks/signing-secret/rotate',
    operationId: 'rotateSigningSecret',
    tag: 'Webhooks',
    summary: 'Replace the callbackUrl signing secret',
    description:
      'Every POST from now on, retries of pending deliveries included, is signed with the new secret.',
    scope: 'admin',
    responses: { 200: { description: 'The new signing secret.', schema: signingSecretSchema } },
  },
  {
    method: 'post',
    path: '/v1/keys',
    operationId: 'createKey',
    tag: 'Keys',
    summary: "Create an API key for the caller's tenant",
    description:
      'Only a caller that holds `operator` itself may grant `operator` (403 otherwise); `admin` may grant the tenant scopes.',
    scope: 'admin',
    body: createKeyBody,
    responses: { 201: { description: 'The key, shown this once.', schema: createdKeySchema } },
  },
  {
    method: 'get',
    path: '/v1/keys',
    operationId: 'listKeys',
    tag: 'Keys',
    summary: "The tenant's API keys (never their secrets)",
    scope: 'admin',
    responses: { 200: { description: 'Every key of the tenant.', schema: keyListSchema } },
  },
  {
    method: 'delete',
    path: '/v1/keys/:id',
    operationId: 'revokeKey',
    tag: 'Keys',
    summary: 'Revoke an API key',
    description: 'Every API replica stops accepting it within AUTH_CACHE_TTL_MS.',
    scope: 'admin',
    pathParams: { id: { description: 'The key id (a UUID).', schema: v.pipe(v.string(), v.uuid()) } },
    responses: { 204: { description: 'Revoked.' } },
    problems: [404],
  },
  {
    method: 'get',
    path: '/health/live',
    operationId: 'live',
    tag: 'Operations',
    summary: 'Liveness: the process answers',
    responses: { 200: { description: 'Alive.', schema: healthSchema } },
  },
  {
    method: 'get',
    path: '/health/ready',
    operationId: 'ready',
    tag: 'Operations',
    summary: 'Readiness: Redis and Postgres answer',
    responses: {
      200: { description: 'Ready.', schema: healthSchema },
      503: { description: 'Redis or Postgres is down; `checks` says which.', schema: healthSchema },
    },
  },
  {
    method: 'get',
    path: '/metrics',
    operationId: 'metrics',
    tag: 'Operations',
    summary: 'Prometheus metrics',
    description: 'Text exposition format; the metric list is in docs/observability.md.',
    responses: {
      200: { description: 'Prometheus text format.', mediaType: 'text/plain', schema: v.string() },
    },
  },
  {
    method: 'get',
    path: '/openapi.json',
    operationId: 'openApiDocument',
    tag: 'Operations',
    summary: 'This OpenAPI 3.1 document',
    responses: {
      200: { description: 'The document.', schema: v.record(v.string(), v.unknown()) },
    },
  },
  {
    method: 'get',
    path: '/docs',
    operationId: 'docs',
    tag: 'Operations',
    summary: 'API reference (Swagger UI, served by the API itself)',
    responses: { 200: { description: 'HTML page.', mediaType: 'text/html', schema: v.string() } },
  },
  {
    method: 'get',
    path: '/docs/assets/:file',
    operationId: 'docsAsset',
    tag: 'Operations',
    summary: 'A script or stylesheet of the API reference',
    pathParams: { file: { description: 'Asset name.', schema: v.picklist(docsAssetNames) } },
    responses: {
      200: { description: 'The file.', mediaType: contentTypes(docsAssets), schema: v.string() },
    },
    problems: [404],
  },
  {
    method: 'get',
    path: '/dashboard',
    operationId: 'dashboard',
    tag: 'Operations',
    summary: 'Live queue dashboard (its data comes from /v1 with your API key)',
    responses: { 200: { description: 'HTML page.', mediaType: 'text/html', schema: v.string() } },
  },
  {
    method: 'get',
    path: '/dashboard/assets/:file',
    operationId: 'dashboardAsset',
    tag: 'Operations',
    summary: 'A script or stylesheet of the dashboard',
    pathParams: { file: { description: 'Asset name.', schema: v.picklist(dashboardAssetNames) } },
    responses: {
      200: { description: 'The file.', mediaType: contentTypes(dashboardAssets), schema: v.string() },
    },
    problems: [404],
  },
];

/** Schemas worth a name in `components.schemas` besides those the operations use. */
export const extraSchemas = { WsClientMessage: wsClientMessage } as const;
