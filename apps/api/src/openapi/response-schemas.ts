import type { DeliveryAttempt } from '@conveyor/core/db';
import { type ErrorRecord, errorCodes, type FieldIssue } from '@conveyor/core/errors';
import type { StatusEvent } from '@conveyor/core/events';
import {
  type BatchItemResult,
  type BulkCancelResult,
  type BulkRetryResult,
  childFailurePolicies,
  type FlowView,
  type JobView,
  jobStatuses,
  type SubmitJobResponse,
  terminalStatuses,
} from '@conveyor/core/jobs';
import type { ScheduleRunView, ScheduleView } from '@conveyor/core/schedules';
import { type DeliveryView, deliveryStatuses, type WebhookView } from '@conveyor/core/webhooks';
import * as v from 'valibot';
import type { ApiKeyInfo } from '../auth/api-keys.js';
import { scopes } from '../auth/principal.js';
import type { Problem } from '../errors/problem.js';
import type { JobPage } from '../jobs/job-list.js';
import type { JobStats } from '../jobs/job-stats.js';
import type { SchedulePage } from '../schedules/schedule-service.js';
import type { DeliveryPage, SigningSecretView } from '../webhooks/webhook-service.js';

/*
 * The shapes the API answers with, as valibot schemas: the OpenAPI document is generated
 * from them, and each is tied to the TypeScript type the code returns (`satisfies`), so a
 * field added to a response without its schema does not compile. The OpenAPI test also
 * validates real responses against the generated document.
 */

const isoTime = v.pipe(v.string(), v.isoTimestamp());
const id = v.pipe(v.string(), v.uuid());

export const fieldIssueSchema = v.object({
  path: v.pipe(
    v.string(),
    v.description('Dotted path into the input, e.g. `data.ms`; empty for the whole body.'),
  ),
  message: v.string(),
}) satisfies v.GenericSchema<unknown, FieldIssue>;

export const errorRecordSchema = v.object({
  code: v.picklist(errorCodes),
  message: v.string(),
  retryable: v.boolean(),
  attempt: v.optional(v.pipe(v.number(), v.integer(), v.description('The attempt (1-based) that failed.'))),
  at: v.optional(isoTime),
}) satisfies v.GenericSchema<unknown, ErrorRecord>;

const links = v.object({ self: v.string(), events: v.string() });
const jobViewLinks = v.object({
  self: v.string(),
  events: v.string(),
  flow: v.optional(v.pipe(v.string(), v.description("The flow's tree, for a node of one."))),
});

export const jobViewSchema = v.object({
  id,
  type: v.string(),
  queue: v.string(),
  status: v.picklist(jobStatuses),
  attempts: v.pipe(
    v.number(),
    v.integer(),
    v.description('Attempts started so far (the current one included), across retries.'),
  ),
  maxAttempts: v.pipe(v.number(), v.integer()),
  priority: v.nullable(v.pipe(v.number(), v.integer())),
  progress: v.pipe(
    v.unknown(),
    v.description('The last ctx.progress() report: a number 0–100 or an object.'),
  ),
  data: v.pipe(v.unknown(), v.description("The job's input.")),
  result: v.pipe(v.unknown(), v.description("The handler's result once completed, else null.")),
  error: v.nullable(errorRecordSchema),
  metadata: v.nullable(v.record(v.string(), v.unknown())),
  tags: v.pipe(v.array(v.string()), v.description('Labels the submit gave it.')),
  attemptErrors: v.pipe(
    v.array(errorRecordSchema),
    v.description("Every failed attempt's error, oldest first."),
  ),
  logs: v.pipe(v.array(v.string()), v.description('Lines the handler appended with ctx.appendLog.')),
  source: v.pipe(
    v.picklist(['queue', 'history']),
    v.description('Where this view was read: in flight (BullMQ) or finished (Postgres).'),
  ),
  createdAt: isoTime,
  startedAt: v.nullable(isoTime),
  finishedAt: v.nullable(isoTime),
  expiresAt: v.pipe(
    v.nullable(isoTime),
    v.description('When the job ends `expired` if no worker has started it by then.'),
  ),
  callbackUrl: v.pipe(v.nullable(v.string()), v.description('Where its terminal status event is POSTed.')),
  scheduleId: v.pipe(v.nullable(id), v.description('The schedule that produced it.')),
  flowId: v.pipe(v.nullable(id), v.description('The flow it is a node of (its root job’s id).')),
  parentId: v.pipe(v.nullable(id), v.description('The flow node that waits for it.')),
  childIds: v.pipe(v.array(id), v.description('The flow nodes it waits for; empty for a leaf.')),
  links: jobViewLinks,
}) satisfies v.GenericSchema<unknown, JobView>;

export const submitJobResponseSchema = v.object({
  id,
  type: v.string(),
  queue: v.string(),
  status: v.picklist(jobStatuses),
  links,
}) satisfies v.GenericSchema<unknown, SubmitJobResponse>;

export const batchItemSchema = v.object({
  index: v.pipe(v.number(), v.integer()),
  id,
  type: v.string(),
  outcome: v.pipe(
    v.picklist(['enqueued', 'duplicate', 'failed', 'unknown']),
    v.description(
      '`enqueued`: new; `duplicate`: the id was known, nothing enqueued; `failed`: not enqueued; `unknown`: Redis failed before it could tell.',
    ),
  ),
  status: v.optional(v.picklist(jobStatuses)),
  error: v.optional(v.string()),
}) satisfies v.GenericSchema<unknown, BatchItemResult>;

export const batchResponseSchema = v.object({ items: v.array(batchItemSchema) });

export const jobPageSchema = v.object({
  items: v.array(jobViewSchema),
  nextCursor: v.pipe(
    v.nullable(v.string()),
    v.description('Pass as `cursor` for the next page; null on the last page.'),
  ),
}) satisfies v.GenericSchema<unknown, JobPage>;

const count = v.pipe(v.number(), v.integer(), v.minValue(0));

export const queueInfoSchema = v.object({
  name: v.string(),
  internal: v.pipe(
    v.boolean(),
    v.description("One of Conveyor's own queues (`schedules`, `callbacks`): listed, not pausable here."),
  ),
  counts: v.pipe(
    v.nullable(
      v.object({
        waiting: count,
        prioritized: count,
        delayed: count,
        active: count,
        completed: count,
        failed: count,
      }),
    ),
    v.description(
      "Jobs per state, every tenant's together; null unless the caller holds the `operator` scope.",
    ),
  ),
  paused: v.pipe(v.boolean(), v.description('Whether the queue (any of its partitions) is paused.')),
  workers: v.pipe(
    v.nullable(count),
    v.description(
      'Worker connections serving this queue (of a partitioned queue: the fewest any one partition has, so a partition no worker serves shows 0); null unless the caller holds the `operator` scope.',
    ),
  ),
  limits: v.pipe(
    v.object({
      rateLimit: v.nullable(v.object({ max: count, durationMs: count })),
      concurrency: v.nullable(count),
    }),
    v.description(
      'Its rate limit and global concurrency across every worker (PATCH /v1/queues/:name/limits); null: none. Jobs they hold back wait in `waiting`.',
    ),
  ),
  limitsSetBy: v.pipe(
    v.nullable(v.picklist(['operator', 'declared'])),
    v.description(
      "Who set `limits`: `operator` (PATCH /v1/queues/:name/limits, which wins), `declared` (the queue's job types' `queueLimits`, applied by the workers serving it); null: no limits.",
    ),
  ),
  held: v.pipe(
    v.nullable(
      v.object({
        jobs: count,
        by: v.array(v.picklist(['rateLimit', 'concurrency'])),
      }),
    ),
    v.description(
      'Jobs its limits hold back now (counted in `waiting`/`prioritized` too): every job waiting in a partition whose rate limit is used up for the current window or whose global concurrency is reached, and which limits do it. Null unless the caller holds the `operator` scope.',
    ),
  ),
  partitions: v.pipe(
    v.pipe(v.number(), v.integer(), v.minValue(1)),
    v.description('BullMQ queues the queue is split into (QUEUE_PARTITIONS); counts are their sum.'),
  ),
});

export const queueListSchema = v.object({ items: v.array(queueInfoSchema) });

const outcomeCounts = {
  completed: count,
  failed: count,
  cancelled: count,
  expired: count,
};

export const jobStatsSchema = v.object({
  minutes: count,
  from: v.pipe(isoTime, v.description('The start of the first minute counted.')),
  to: v.pipe(isoTime, v.description('Now: the last minute counted is still filling.')),
  totals: v.pipe(v.object(outcomeCounts), v.description('Jobs that finished in the window, per outcome.')),
  perMinute: v.pipe(
    v.array(v.object({ at: isoTime, ...outcomeCounts })),
    v.description('One entry per minute of the window, oldest first, empty minutes included.'),
  ),
}) satisfies v.GenericSchema<unknown, JobStats>;

export const jobTypeListSchema = v.object({
  items: v.array(
    v.object({
      name: v.string(),
      description: v.string(),
      queue: v.string(),
      timeoutMs: count,
      maxTimeoutMs: count,
      attempts: count,
      maxAttempts: count,
      backoff: v.object({
        type: v.picklist(['fixed', 'exponential']),
        delayMs: count,
        jitter: v.optional(v.number()),
      }),
      inputSchema: v.pipe(
        v.record(v.string(), v.unknown()),
        v.description('JSON Schema (draft 2020-12) of `data`.'),
      ),
      ttlMs: v.optional(count),
      queueLimits: v.pipe(
        v.optional(
          v.object({
            rateLimit: v.optional(v.object({ max: count, durationMs: count })),
            concurrency: v.optional(count),
          }),
        ),
        v.description(
          "The limits the type declares for its queue (defineJob's queueLimits); GET /v1/queues shows the queue's limits in force.",
        ),
      ),
      version: v.pipe(
        v.string(),
        v.description(
          'The version submits are validated with (a hash of the definition): the newest one a worker served in the last 90 s, else the newest registered.',
        ),
      ),
      lastSeenAt: v.pipe(
        v.string(),
        v.description('When a worker last said it serves the type; its jobs wait while none does.'),
      ),
      versions: v.pipe(
        v.array(v.object({ version: v.string(), registeredAt: v.string(), lastSeenAt: v.string() })),
        v.description('What workers registered of the type, one entry per version, newest first.'),
      ),
    }),
  ),
});

export const apiKeyInfoSchema = v.object({
  id,
  keyId: v.string(),
  tenant: v.string(),
  name: v.string(),
  scopes: v.array(v.picklist(scopes)),
  createdAt: isoTime,
  expiresAt: v.nullable(isoTime),
  revokedAt: v.nullable(isoTime),
}) satisfies v.GenericSchema<unknown, ApiKeyInfo>;

export const createdKeySchema = v.object({
  ...apiKeyInfoSchema.entries,
  key: v.pipe(v.string(), v.description('The key itself: shown this once, store it now.')),
});

export const keyListSchema = v.object({ items: v.array(apiKeyInfoSchema) });

export const healthSchema = v.object({
  status: v.picklist(['ok', 'unavailable']),
  checks: v.optional(
    v.object({
      redis: v.pipe(v.string(), v.description('`ok`, or why Redis did not answer.')),
      postgres: v.pipe(v.string(), v.description('`ok`, or why Postgres did not answer.')),
    }),
  ),
});

export const problemSchema = v.looseObject({
  type: v.string(),
  title: v.string(),
  status: v.pipe(v.number(), v.integer()),
  detail: v.string(),
  code: v.pipe(v.picklist(errorCodes), v.description('Stable machine-readable error code.')),
  instance: v.optional(v.string()),
  requestId: v.optional(v.string()),
  errors: v.optional(
    v.pipe(v.array(fieldIssueSchema), v.description('Every bad field, for validation errors.')),
  ),
}) satisfies v.GenericSchema<unknown, Problem>;

export const statusEventSchema = v.object({
  jobId: id,
  tenant: v.string(),
  type: v.string(),
  queue: v.string(),
  status: v.picklist(jobStatuses),
  attempt: v.pipe(v.number(), v.integer()),
  progress: v.optional(v.unknown()),
  error: v.optional(errorRecordSchema),
  result: v.optional(v.unknown()),
  ts: isoTime,
}) satisfies v.GenericSchema<unknown, StatusEvent>;

export const scheduleRunSchema = v.object({
  jobId: id,
  scheduledAt: v.pipe(isoTime, v.description('When the run was due.')),
  status: v.pipe(
    v.picklist([...jobStatuses, 'unknown']),
    v.description("The job's status now; `unknown` once its history was pruned."),
  ),
  links: v.object({ job: v.string() }),
}) satisfies v.GenericSchema<unknown, ScheduleRunView>;

const nullableCount = v.nullable(count);

export const scheduleViewSchema = v.object({
  id,
  name: v.nullable(v.string()),
  type: v.string(),
  data: v.pipe(v.unknown(), v.description("Each run's job input.")),
  cron: v.nullable(v.string()),
  tz: v.pipe(v.nullable(v.string()), v.description("The cron pattern's IANA time zone; null for everyMs.")),
  everyMs: nullableCount,
  startAt: v.nullable(isoTime),
  endAt: v.nullable(isoTime),
  limit: v.pipe(nullableCount, v.description('Most runs in total; null: no limit.')),
  paused: v.boolean(),
  priority: nullableCount,
  attempts: nullableCount,
  timeoutMs: nullableCount,
  ttlMs: nullableCount,
  metadata: v.nullable(v.record(v.string(), v.unknown())),
  callbackUrl: v.nullable(v.string()),
  state: v.pipe(
    v.picklist(['active', 'paused', 'finished']),
    v.description('`finished`: its limit or endAt is reached, it runs no more.'),
  ),
  runCount: count,
  lastRunAt: v.nullable(isoTime),
  nextRuns: v.pipe(
    v.array(isoTime),
    v.description('The next times it will run (up to 5); empty unless active.'),
  ),
  lastRuns: v.optional(
    v.pipe(
      v.array(scheduleRunSchema),
      v.description('The latest runs, newest first, with their jobs’ status (GET /v1/schedules/:id only).'),
    ),
  ),
  revision: v.pipe(count, v.description('Incremented by every change.')),
  createdAt: isoTime,
  updatedAt: isoTime,
  links: v.object({ self: v.string() }),
}) satisfies v.GenericSchema<unknown, ScheduleView>;

export const schedulePageSchema = v.object({
  items: v.array(scheduleViewSchema),
  nextCursor: v.pipe(
    v.nullable(v.string()),
    v.description('Pass as `cursor` for the next page; null on the last page.'),
  ),
}) satisfies v.GenericSchema<unknown, SchedulePage>;

export const webhookViewSchema = v.object({
  id,
  url: v.string(),
  types: v.pipe(v.array(v.string()), v.description('Job types it is for; empty: every type.')),
  statuses: v.pipe(
    v.array(v.picklist(terminalStatuses)),
    v.description('Terminal statuses it is for; empty: every one.'),
  ),
  description: v.nullable(v.string()),
  enabled: v.boolean(),
  createdAt: isoTime,
  updatedAt: isoTime,
  links: v.object({ self: v.string(), deliveries: v.string() }),
}) satisfies v.GenericSchema<unknown, WebhookView>;

const webhookSecret = v.pipe(
  v.string(),
  v.description('The signing secret: shown only in the answer that set it. Store it now.'),
);

/** POST /v1/webhooks answers with the secret, given or generated. */
export const createdWebhookSchema = v.object({
  ...webhookViewSchema.entries,
  secret: webhookSecret,
}) satisfies v.GenericSchema<unknown, WebhookView>;

/** PATCH /v1/webhooks/:id answers with the secret only when the body set one. */
export const updatedWebhookSchema = v.object({
  ...webhookViewSchema.entries,
  secret: v.optional(webhookSecret),
}) satisfies v.GenericSchema<unknown, WebhookView>;

export const webhookListSchema = v.object({ items: v.array(webhookViewSchema) }) satisfies v.GenericSchema<
  unknown,
  { items: WebhookView[] }
>;

export const deliveryAttemptSchema = v.object({
  attempt: v.pipe(count, v.description('1-based.')),
  at: isoTime,
  durationMs: count,
  statusCode: v.optional(v.pipe(v.number(), v.integer(), v.description("The receiver's HTTP status."))),
  error: v.optional(v.pipe(v.string(), v.description('Why the attempt did not get a 2xx.'))),
}) satisfies v.GenericSchema<unknown, DeliveryAttempt>;

export const deliveryViewSchema = v.object({
  id,
  webhookId: v.pipe(
    v.nullable(id),
    v.description("The webhook it is for; null for the job's own callbackUrl."),
  ),
  jobId: id,
  url: v.string(),
  status: v.pipe(
    v.picklist(deliveryStatuses),
    v.description('`pending` (will try again), `delivered` (a 2xx) or `failed` (gave up).'),
  ),
  attempts: count,
  lastStatusCode: v.nullable(v.pipe(v.number(), v.integer())),
  lastError: v.nullable(v.string()),
  attemptLog: v.pipe(v.array(deliveryAttemptSchema), v.description('Every POST, oldest first.')),
  event: v.pipe(statusEventSchema, v.description('The status event POSTed as the body.')),
  redeliveryOf: v.pipe(
    v.nullable(id),
    v.description('The delivery this one sends again (a redeliver); null for a first send.'),
  ),
  createdAt: isoTime,
  updatedAt: isoTime,
  deliveredAt: v.nullable(isoTime),
}) satisfies v.GenericSchema<unknown, DeliveryView>;

export const deliveryPageSchema = v.object({
  items: v.array(deliveryViewSchema),
  nextCursor: v.pipe(
    v.nullable(v.string()),
    v.description('Pass as `cursor` for the next page; null on the last page.'),
  ),
}) satisfies v.GenericSchema<unknown, DeliveryPage>;

export const deliveryListSchema = v.object({ items: v.array(deliveryViewSchema) }) satisfies v.GenericSchema<
  unknown,
  { items: DeliveryView[] }
>;

export const signingSecretSchema = v.object({
  secret: v.pipe(
    v.string(),
    v.description("Signs deliveries to jobs' own callbackUrl (HMAC-SHA256, see the README)."),
  ),
}) satisfies v.GenericSchema<unknown, SigningSecretView>;

const flowNodeViewSchema = v.object({
  id,
  type: v.string(),
  queue: v.string(),
  parentId: v.pipe(v.nullable(id), v.description('The node that waits for this one; null for the root.')),
  path: v.pipe(
    v.string(),
    v.description("Where it was in the submitted body: '' for the root, `children.1.children.0` below."),
  ),
  onFailure: v.pipe(
    v.picklist(childFailurePolicies),
    v.description("What this node's failure does to its parent."),
  ),
  status: v.picklist(jobStatuses),
  links,
});

export const flowViewSchema = v.object({
  id: v.pipe(id, v.description("The flow's id: its root job's.")),
  status: v.pipe(
    v.picklist(jobStatuses),
    v.description("The root's status: the flow's outcome once it ends."),
  ),
  createdAt: isoTime,
  nodes: v.pipe(
    v.array(flowNodeViewSchema),
    v.description(
      'Every job of the flow, the root first, depth-first in body order; `parentId` makes the tree.',
    ),
  ),
  links,
}) satisfies v.GenericSchema<unknown, FlowView>;

export const bulkRetryResultSchema = v.object({
  matched: v.pipe(
    count,
    v.description('A dry run: every matching job; otherwise the ones this request went through.'),
  ),
  retried: count,
  skipped: v.pipe(
    v.array(v.object({ id, reason: v.string() })),
    v.description('Matching jobs not retried, each with why.'),
  ),
  nextCursor: v.pipe(
    v.nullable(v.string()),
    v.description('Send it back as `cursor` for the next ones; null: done.'),
  ),
  dryRun: v.boolean(),
}) satisfies v.GenericSchema<unknown, BulkRetryResult>;

export const bulkCancelResultSchema = v.object({
  matched: v.pipe(
    count,
    v.description('A dry run: every matching job; otherwise the ones this request went through.'),
  ),
  cancelled: count,
  more: v.pipe(v.boolean(), v.description('More may match: send the same request again.')),
  dryRun: v.boolean(),
}) satisfies v.GenericSchema<unknown, BulkCancelResult>;
