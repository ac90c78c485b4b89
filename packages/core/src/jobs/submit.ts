import * as v from 'valibot';
import { type ErrorRecord, errorCodes } from '../errors/index.js';
import type { JobStatus } from './job-status.js';
import { plainRecord } from './plain-record.js';

const int = (min: number, max: number) => v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));

/** Largest priority BullMQ accepts; 1 runs first, 0 or absent means no priority. */
export const MAX_PRIORITY = 2_097_152;
/** Longest a job may be delayed at submit. */
export const MAX_DELAY_MS = 365 * 24 * 3_600_000;
/** Longest a job may wait before it expires (ttlMs, or expiresAt from now). */
export const MAX_TTL_MS = 365 * 24 * 3_600_000;

/** An http(s) URL Conveyor will POST to (a job's callbackUrl, a webhook). */
export const callbackUrlSchema = v.pipe(
  v.string(),
  v.maxLength(2_048),
  v.url('must be an absolute URL'),
  v.check((u) => /^https?:\/\//i.test(u), 'only http and https URLs are allowed'),
);

/** Free-form client data kept with a job: an object of at most 64 keys. */
export function metadataSchema() {
  return v.pipe(
    plainRecord(v.pipe(v.string(), v.maxLength(128)), v.unknown()),
    v.check((m) => Object.keys(m).length <= 64, 'at most 64 keys'),
  );
}

/** Most tags on one job. */
export const MAX_TAGS = 10;
/** A tag: 1-64 of letters, digits and `_ . : = / -` (e.g. `customer:42`, `region=eu`). */
export const tagSchema = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9_.:=/-]{1,64}$/, 'must be 1-64 of letters, digits and _ . : = / -'),
);

/**
 * The bounds of what a submit and a schedule both say about a job; each body adds its own
 * description, so a bound is changed in one place.
 */
export const jobFields = {
  type: v.pipe(v.string(), v.minLength(1), v.maxLength(64)),
  priority: int(1, MAX_PRIORITY),
  attempts: int(1, 1_000),
  timeoutMs: int(1, 7 * 24 * 3_600_000),
  ttlMs: int(1, MAX_TTL_MS),
  callbackUrl: callbackUrlSchema,
  metadata: metadataSchema,
};

/**
 * The body of POST /v1/jobs. Unknown fields are rejected so a typo is an error, not a
 * silently ignored option. `data` is validated separately against the type's schema.
 */
export const submitJobBody = v.strictObject({
  type: v.pipe(jobFields.type, v.description('A job type from GET /v1/job-types.')),
  data: v.optional(
    v.pipe(v.unknown(), v.description("The job's input; validated against the type's schema.")),
  ),
  id: v.optional(
    v.pipe(
      v.string(),
      v.uuid('must be a UUID'),
      v.description('A client-chosen UUID; submitting the same id again returns the original job.'),
    ),
  ),
  priority: v.optional(
    v.pipe(jobFields.priority, v.description(`1 (first) … ${MAX_PRIORITY}; absent means no priority.`)),
  ),
  delayMs: v.optional(
    v.pipe(int(0, MAX_DELAY_MS), v.description('Run no earlier than this many milliseconds from now.')),
  ),
  runAt: v.optional(
    v.pipe(
      v.string(),
      v.isoTimestamp('must be an ISO 8601 timestamp with a time zone'),
      v.description('Run no earlier than this ISO 8601 time (with offset); not with delayMs.'),
    ),
  ),
  attempts: v.optional(
    v.pipe(jobFields.attempts, v.description("Overrides the type's attempts, up to the type's maxAttempts.")),
  ),
  timeoutMs: v.optional(
    v.pipe(
      jobFields.timeoutMs,
      v.description("Overrides the type's timeout per attempt, up to the type's maxTimeoutMs."),
    ),
  ),
  metadata: v.optional(
    v.pipe(jobFields.metadata(), v.description('Free-form client data kept with the job (at most 64 keys).')),
  ),
  tags: v.optional(
    v.pipe(
      v.array(tagSchema),
      v.maxLength(MAX_TAGS, `at most ${MAX_TAGS} tags`),
      v.check((tags) => new Set(tags).size === tags.length, 'must not repeat a tag'),
      v.description(`Up to ${MAX_TAGS} short labels to find the job by (GET /v1/jobs?tag=…).`),
    ),
  ),
  ttlMs: v.optional(
    v.pipe(
      jobFields.ttlMs,
      v.description(
        'Expire the job (status `expired`, never run) if no worker has started it this many ms after it became due; not with expiresAt.',
      ),
    ),
  ),
  expiresAt: v.optional(
    v.pipe(
      v.string(),
      v.isoTimestamp('must be an ISO 8601 timestamp with a time zone'),
      v.description('Expire the job if no worker has started it by this ISO 8601 time; not with ttlMs.'),
    ),
  ),
  callbackUrl: v.optional(
    v.pipe(
      jobFields.callbackUrl,
      v.description(
        "POST the job's terminal status event here, signed with the tenant's signing secret (GET /v1/webhooks/signing-secret).",
      ),
    ),
  ),
});
export type SubmitJobBody = v.InferOutput<typeof submitJobBody>;

/** Most jobs in one POST /v1/jobs/batch. */
export const MAX_BATCH_SIZE = 1_000;

/** The body of POST /v1/jobs/batch; every item is checked before any is enqueued. */
export const submitBatchBody = v.strictObject({
  jobs: v.pipe(
    v.array(v.unknown()),
    v.minLength(1, 'must hold at least one job'),
    v.maxLength(MAX_BATCH_SIZE, `must hold at most ${MAX_BATCH_SIZE} jobs`),
  ),
});

/** One item of the batch response, in request order. */
export interface BatchItemResult {
  index: number;
  id: string;
  type: string;
  /** `enqueued`: new; `duplicate`: the id was known, nothing enqueued; `failed`: not enqueued; `unknown`: Redis failed before it could tell. */
  outcome: 'enqueued' | 'duplicate' | 'failed' | 'unknown';
  status?: JobStatus;
  error?: string;
}

/** What Conveyor stores in BullMQ's job.data: the input plus what the worker needs to run it. */
export interface JobEnvelope {
  /** Envelope format version, so a worker can read payloads from an older release. */
  v: 1;
  tenant: string;
  /** The job's id within its tenant (see job-key.ts); absent in payloads of older releases. */
  id?: string;
  input: unknown;
  metadata: Record<string, unknown> | null;
  timeoutMs: number;
  /** ISO time of the submit. */
  submittedAt: string;
  /** Errors of the failed attempts so far, oldest first; written by the worker. */
  attemptErrors?: ErrorRecord[];
  /** How many times the job was retried through the API; a later generation's result replaces an earlier one's. */
  generation?: number;
  /** Attempts used by earlier generations, so attempt numbers continue across a retry. */
  attemptOffset?: number;
  /** The client's Idempotency-Key, if the job was submitted with one. */
  idempotencyKey?: string;
  /** The id of the API request that submitted (or retried) it, so its log lines join the job's. */
  requestId?: string;
  /** Epoch ms after which the job, if not started yet, ends `expired` instead of running. */
  expiresAt?: number;
  /** Where the terminal status event is POSTed. */
  callbackUrl?: string;
  /** The schedule that produced the job. */
  scheduleId?: string;
  /** Times a worker that does not serve the job's type gave it back to its queue. */
  handBacks?: number;
  /** The job's place in a flow (POST /v1/flows), if it is a node of one. */
  flow?: FlowPlace;
  /** Labels to find it by. */
  tags?: string[];
}

/** What a child's failure does to its parent: fail it (default), or let it run seeing it (`ignore`) or not (`remove`). */
export type ChildFailurePolicy = 'fail' | 'ignore' | 'remove';
export const childFailurePolicies = ['fail', 'ignore', 'remove'] as const;

/** A flow node's place in its flow, carried in its envelope. */
export interface FlowPlace {
  /** The flow's id: its root job's. */
  id: string;
  /** The job that waits for this one; absent on the root. */
  parentId?: string;
  /** The jobs this one waits for, each with what its failure does to this one. */
  children?: { id: string; onFailure: ChildFailurePolicy }[];
}

export const jobEnvelope = v.object({
  v: v.literal(1),
  tenant: v.string(),
  id: v.optional(v.string()),
  input: v.optional(v.unknown(), null),
  metadata: v.nullable(v.record(v.string(), v.unknown())),
  timeoutMs: v.pipe(v.number(), v.integer(), v.minValue(1)),
  submittedAt: v.string(),
  generation: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 0),
  attemptOffset: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 0),
  idempotencyKey: v.optional(v.string()),
  requestId: v.optional(v.string()),
  expiresAt: v.optional(v.number()),
  callbackUrl: v.optional(v.string()),
  scheduleId: v.optional(v.string()),
  handBacks: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
  tags: v.optional(v.array(v.string())),
  flow: v.optional(
    v.object({
      id: v.string(),
      parentId: v.optional(v.string()),
      children: v.optional(
        v.array(v.object({ id: v.string(), onFailure: v.picklist(childFailurePolicies) })),
      ),
    }),
  ),
  attemptErrors: v.optional(
    v.array(
      v.object({
        code: v.picklist(errorCodes),
        message: v.string(),
        retryable: v.boolean(),
        attempt: v.optional(v.number()),
        at: v.optional(v.string()),
      }),
    ),
  ),
});

/** A job as GET /v1/jobs/:id shows it, whether it is in flight (Redis) or finished (Postgres). */
export interface JobView {
  id: string;
  type: string;
  queue: string;
  status: JobStatus;
  /** Attempts started so far (the current one included), across retries. */
  attempts: number;
  maxAttempts: number;
  priority: number | null;
  progress: unknown;
  data: unknown;
  result: unknown;
  error: ErrorRecord | null;
  metadata: Record<string, unknown> | null;
  /** Labels to find it by; [] when none. */
  tags: string[];
  /** Every failed attempt's error, oldest first. */
  attemptErrors: ErrorRecord[];
  /** Lines the handler appended with ctx.appendLog. */
  logs: string[];
  /** Where this view was read: `queue` (in flight, BullMQ) or `history` (finished, Postgres). */
  source: 'queue' | 'history';
  /** When the job expires if it has not started by then; null: never. */
  expiresAt: string | null;
  /** Where the terminal status event is POSTed; null: nowhere (webhooks may still apply). */
  callbackUrl: string | null;
  /** The schedule that produced the job; null for submitted jobs. */
  scheduleId: string | null;
  /** The flow it is a node of (its root's id); null outside flows. */
  flowId: string | null;
  /** The flow node that waits for it; null for a root and outside flows. */
  parentId: string | null;
  /** The flow nodes it waits for; empty for a leaf and outside flows. */
  childIds: string[];
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  links: { self: string; events: string; flow?: string };
}

/** The 202 body of POST /v1/jobs. */
export interface SubmitJobResponse {
  id: string;
  type: string;
  queue: string;
  status: JobStatus;
  links: { self: string; events: string };
}

export function jobLinks(
  id: string,
  flowId?: string | null,
): { self: string; events: string; flow?: string } {
  return {
    self: `/v1/jobs/${id}`,
    events: `/v1/jobs/${id}/events`,
    ...(flowId ? { flow: `/v1/flows/${flowId}` } : {}),
  };
}
