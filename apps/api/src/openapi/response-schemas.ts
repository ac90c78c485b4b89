import { type ErrorRecord, errorCodes, type FieldIssue } from '@conveyor/core/errors';
import type { StatusEvent } from '@conveyor/core/events';
import { type BatchItemResult, type JobView, jobStatuses, type SubmitJobResponse } from '@conveyor/core/jobs';
import * as v from 'valibot';
import type { ApiKeyInfo } from '../auth/api-keys.js';
import { scopes } from '../auth/principal.js';
import type { Problem } from '../errors/problem.js';
import type { JobPage } from '../jobs/job-list.js';

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
  links,
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
  counts: v.object({
    waiting: count,
    prioritized: count,
    delayed: count,
    active: count,
    completed: count,
    failed: count,
  }),
  paused: v.boolean(),
  workers: v.pipe(count, v.description('Worker connections serving this queue.')),
});

export const queueListSchema = v.object({ items: v.array(queueInfoSchema) });

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
