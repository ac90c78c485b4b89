import { sql } from 'drizzle-orm';
import {
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import type { ErrorRecord } from '../errors/index.js';
import type { TerminalStatus } from '../jobs/job-status.js';
import type { RegisteredOptions } from '../jobs/registration.js';

/**
 * One row per job that reached a terminal status. In-flight jobs live in Redis (BullMQ);
 * the row is written, by tenant and job id, before the job is acknowledged to BullMQ. Ids
 * belong to their tenant: two tenants' jobs of the same id are two rows.
 */
export const jobs = pgTable(
  'jobs',
  {
    id: uuid().notNull(),
    tenant: text().notNull().default('default'),
    type: text().notNull(),
    queue: text().notNull(),
    status: text().$type<TerminalStatus>().notNull(),
    input: jsonb(),
    result: jsonb(),
    /** The error that ended the job, for failed/cancelled/expired. */
    error: jsonb().$type<ErrorRecord>(),
    /** Every failed attempt's error, oldest first. */
    attemptErrors: jsonb().$type<ErrorRecord[]>().notNull().default([]),
    /** The attempt number the terminal status was reached on. */
    attempts: integer().notNull(),
    maxAttempts: integer().notNull(),
    /** The job's timeout per attempt as its submit (or schedule) set it; a retry keeps it. Null in rows of older releases. */
    timeoutMs: integer(),
    /** The attempts its submit (or schedule) gave each generation; a retry keeps them. Null in rows of older releases. */
    attemptLimit: integer(),
    /** Handler executions, including re-runs after a crash (execution is at-least-once). */
    runs: integer().notNull().default(1),
    priority: integer(),
    metadata: jsonb().$type<Record<string, unknown>>(),
    /** Labels the submit gave it, to find it by. */
    tags: text().array(),
    progress: jsonb(),
    idempotencyKey: text(),
    /** Times the job was retried through the API; a higher generation's row replaces a lower one's. */
    generation: integer().notNull().default(0),
    /** Lines the handler appended with ctx.appendLog, across attempts. */
    logs: jsonb().$type<string[]>().notNull().default([]),
    /** The schedule that produced the job, if any. */
    scheduleId: uuid(),
    /** When the job would have expired had it not started; null: never. */
    expiresAt: timestamp({ withTimezone: true }),
    /** Where its terminal status event was POSTed, if anywhere. */
    callbackUrl: text(),
    /** The flow the job is a node of (its root's id), if any. */
    flowId: uuid(),
    /** The job of the flow that waited for this one, if any. */
    parentId: uuid(),
    /** The jobs of the flow this one waited for, in the order submitted; null outside flows. */
    childIds: jsonb().$type<string[]>(),
    createdAt: timestamp({ withTimezone: true }).notNull(),
    startedAt: timestamp({ withTimezone: true }),
    finishedAt: timestamp({ withTimezone: true }).notNull(),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'jobs_pkey', columns: [t.tenant, t.id] }),
    check('jobs_status_check', sql`${t.status} in ('completed', 'failed', 'cancelled', 'expired')`),
    index('jobs_tenant_created_idx').on(t.tenant, t.createdAt.desc(), t.id),
    // A list page filtered by type or status reads only the matching rows: on the index above
    // alone, a filter matching few of a tenant's rows reads the tenant's whole history.
    index('jobs_tenant_type_created_idx').on(t.tenant, t.type, t.createdAt.desc(), t.id),
    index('jobs_tenant_status_created_idx').on(t.tenant, t.status, t.createdAt.desc(), t.id),
    index('jobs_finished_idx').on(t.finishedAt),
    // GET /v1/stats: a tenant's outcomes per minute over the last hours.
    index('jobs_tenant_finished_idx').on(t.tenant, t.finishedAt),
    uniqueIndex('jobs_tenant_idempotency_key_idx')
      .on(t.tenant, t.idempotencyKey)
      .where(sql`${t.idempotencyKey} is not null`),
    index('jobs_schedule_idx').on(t.scheduleId, t.createdAt.desc()).where(sql`${t.scheduleId} is not null`),
    // GET /v1/jobs?tag=… and ?metadata.<key>=…: a tenant's few matching rows among millions.
    index('jobs_tags_idx').using('gin', t.tags),
    index('jobs_metadata_idx').using('gin', sql`${t.metadata} jsonb_path_ops`),
    // GET /v1/flows/:id: the rows of a flow's finished nodes.
    index('jobs_tenant_flow_idx').on(t.tenant, t.flowId).where(sql`${t.flowId} is not null`),
  ],
);

export type JobRow = typeof jobs.$inferSelect;
export type NewJobRow = typeof jobs.$inferInsert;

/**
 * API keys. The secret part is stored only as a SHA-256 hash (keys are 256-bit random, so a
 * slow hash adds nothing); the public key id finds the row.
 */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: uuid().primaryKey(),
    /** The public part of the key (`cvk_<keyId>_<secret>`). */
    keyId: text().notNull(),
    tenant: text().notNull(),
    name: text().notNull(),
    scopes: jsonb().$type<string[]>().notNull(),
    /** base64url SHA-256 of the secret part. */
    secretHash: text().notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp({ withTimezone: true }),
    revokedAt: timestamp({ withTimezone: true }),
  },
  (t) => [uniqueIndex('api_keys_key_id_idx').on(t.keyId), index('api_keys_tenant_idx').on(t.tenant)],
);

export type ApiKeyRow = typeof apiKeys.$inferSelect;

/** Options a schedule gives each job it produces (the same meaning as on POST /v1/jobs). */
export interface ScheduleJobOptions {
  priority?: number;
  attempts?: number;
  timeoutMs?: number;
  ttlMs?: number;
  metadata?: Record<string, unknown>;
  callbackUrl?: string;
}

/** One run a schedule produced: the job's id and the time the run was due. */
export interface ScheduleRun {
  jobId: string;
  at: string;
}

/**
 * Recurring jobs. This table is the source of truth; BullMQ job schedulers (one per active
 * row, by the row's id) are reconciled from it, and every tick is checked against the row
 * before its job is enqueued.
 */
export const schedules = pgTable(
  'schedules',
  {
    id: uuid().primaryKey(),
    tenant: text().notNull(),
    name: text(),
    type: text().notNull(),
    data: jsonb(),
    /** Cron pattern (5 or 6 fields); exactly one of cron and everyMs is set. */
    cron: text(),
    /** IANA time zone the cron pattern is read in. */
    tz: text(),
    everyMs: integer(),
    startAt: timestamp({ withTimezone: true }),
    endAt: timestamp({ withTimezone: true }),
    /** Most runs in total; null: unbounded. */
    runLimit: integer(),
    paused: boolean().notNull().default(false),
    jobOptions: jsonb().$type<ScheduleJobOptions>().notNull().default({}),
    /** Raised by every change, so a BullMQ scheduler can be compared with its row. */
    revision: integer().notNull().default(1),
    runCount: integer().notNull().default(0),
    /** The due time of the latest run; a tick at or before it is not run again. */
    lastRunAt: timestamp({ withTimezone: true }),
    /** The latest runs, newest first (at most 10). */
    recentRuns: jsonb().$type<ScheduleRun[]>().notNull().default([]),
    // Milliseconds, like a JS Date: list cursors carry created_at as one, so a microsecond
    // now() would not round-trip and pages would repeat or skip rows. updated_at defaults to
    // the same now() and is rounded alike, so it is never before created_at.
    createdAt: timestamp({ withTimezone: true, precision: 3 }).notNull().defaultNow(),
    updatedAt: timestamp({ withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (t) => [
    check('schedules_timing_check', sql`(${t.cron} is null) <> (${t.everyMs} is null)`),
    index('schedules_tenant_created_idx').on(t.tenant, t.createdAt, t.id),
  ],
);

export type ScheduleRow = typeof schedules.$inferSelect;

/** A tenant's webhook subscriptions: terminal status events POSTed to `url`, signed with `secret`. */
export const webhooks = pgTable(
  'webhooks',
  {
    id: uuid().primaryKey(),
    tenant: text().notNull(),
    url: text().notNull(),
    /** HMAC-SHA256 key of the signatures; stored (it must be), shown only when set, never logged. */
    secret: text().notNull(),
    /** Job types to send; empty: all. */
    types: jsonb().$type<string[]>().notNull().default([]),
    /** Terminal statuses to send; empty: all. */
    statuses: jsonb().$type<TerminalStatus[]>().notNull().default([]),
    description: text(),
    enabled: boolean().notNull().default(true),
    // Milliseconds, as in schedules: the keyset cursor carries created_at as a JS Date.
    createdAt: timestamp({ withTimezone: true, precision: 3 }).notNull().defaultNow(),
    updatedAt: timestamp({ withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (t) => [index('webhooks_tenant_idx').on(t.tenant, t.createdAt)],
);

export type WebhookRow = typeof webhooks.$inferSelect;

/** One try of a delivery. */
export interface DeliveryAttempt {
  attempt: number;
  at: string;
  durationMs: number;
  /** The receiver's HTTP status, when it answered. */
  statusCode?: number;
  /** Why the attempt failed, when it did not get a 2xx. */
  error?: string;
}

/**
 * One POST of a status event to one target (a webhook, or a job's callbackUrl), with every
 * attempt. Written by the worker that makes the attempts.
 */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: uuid().primaryKey(),
    tenant: text().notNull(),
    /** Null for a job's own callbackUrl. */
    webhookId: uuid(),
    jobId: uuid().notNull(),
    url: text().notNull(),
    event: jsonb().notNull(),
    status: text().$type<'pending' | 'delivered' | 'failed'>().notNull(),
    attempts: integer().notNull().default(0),
    lastStatusCode: integer(),
    lastError: text(),
    attemptLog: jsonb().$type<DeliveryAttempt[]>().notNull().default([]),
    /** The delivery this one sends again (POST …/deliveries/:id/redeliver); null for a first send. */
    redeliveryOf: uuid(),
    // Milliseconds, as in schedules: the keyset cursor carries created_at as a JS Date.
    createdAt: timestamp({ withTimezone: true, precision: 3 }).notNull().defaultNow(),
    updatedAt: timestamp({ withTimezone: true, precision: 3 }).notNull().defaultNow(),
    deliveredAt: timestamp({ withTimezone: true }),
  },
  (t) => [
    check('webhook_deliveries_status_check', sql`${t.status} in ('pending', 'delivered', 'failed')`),
    index('webhook_deliveries_webhook_idx').on(t.webhookId, t.createdAt.desc()),
    index('webhook_deliveries_job_idx').on(t.jobId),
    index('webhook_deliveries_created_idx').on(t.createdAt),
  ],
);

export type WebhookDeliveryRow = typeof webhookDeliveries.$inferSelect;

/** Per tenant: the key that signs deliveries to jobs' own callbackUrl. */
export const signingSecrets = pgTable('signing_secrets', {
  tenant: text().primaryKey(),
  secret: text().notNull(),
  createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
});

/**
 * The job types workers registered: one row per (name, version). A worker upserts the rows
 * of the types it serves when it starts and again every heartbeat (`last_seen_at`), with
 * its own database connection: tenants cannot register types. Two releases running side by
 * side show as two versions of a type.
 */
export const jobTypes = pgTable(
  'job_types',
  {
    name: text().notNull(),
    version: text().notNull(),
    description: text().notNull(),
    queue: text().notNull(),
    options: jsonb().$type<RegisteredOptions>().notNull(),
    inputSchema: jsonb().$type<Record<string, unknown>>().notNull(),
    /** When a worker first registered this version. */
    registeredAt: timestamp({ withTimezone: true, precision: 3 }).notNull().defaultNow(),
    /** When a worker serving this version last said so. */
    lastSeenAt: timestamp({ withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ name: 'job_types_pkey', columns: [t.name, t.version] })],
);

export type JobTypeRow = typeof jobTypes.$inferSelect;

/** One node of a flow as submitted: where it sits in the tree and where BullMQ holds it. */
export interface FlowNodeRecord {
  id: string;
  type: string;
  queue: string;
  /** The BullMQ queue (the queue, or the partition) it was enqueued in. */
  bullQueue: string;
  /** Its parent's id; null for the root. */
  parentId: string | null;
  /** Where it sits in the submitted body: '' for the root, `children.1.children.0` below. */
  path: string;
  /** What its failure does to its parent: fail it, or let it run (`ignore`: seeing it; `remove`: not). */
  onFailure: 'fail' | 'ignore' | 'remove';
  /** The generation last enqueued (a retry of the flow runs a node again as the next one); 0 when absent. */
  generation?: number;
}

/**
 * A flow: a tree of jobs submitted together (POST /v1/flows), identified by its root job's
 * id within its tenant. The row holds the tree as submitted, written before the jobs are
 * enqueued; each node's outcome is its own row in `jobs` (with `flow_id`).
 */
export const flows = pgTable(
  'flows',
  {
    id: uuid().notNull(),
    tenant: text().notNull(),
    /** Every node, the root first, in depth-first order of the body. */
    nodes: jsonb().$type<FlowNodeRecord[]>().notNull(),
    /** The client's Idempotency-Key, if any. */
    idempotencyKey: text(),
    /** A hash of the submitted body: the same id or key with another body is a conflict. */
    requestHash: text().notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'flows_pkey', columns: [t.tenant, t.id] }),
    index('flows_created_idx').on(t.createdAt),
  ],
);

export type FlowRow = typeof flows.$inferSelect;

/**
 * A queue's limits across every worker: set by an operator (PATCH /v1/queues/:name/limits)
 * or declared by its job types (`defineJob({ queueLimits })`, written by the workers that
 * serve it). The record, from which they are applied to BullMQ's queue meta (and re-applied
 * after a Redis loss); an operator's row is never overwritten by a declaration.
 */
export const queueLimits = pgTable(
  'queue_limits',
  {
    queue: text().primaryKey(),
    /** At most this many jobs started per rateDurationMs; null: no rate limit. */
    rateMax: integer(),
    rateDurationMs: integer(),
    /** At most this many jobs running at once; null: no global concurrency. */
    concurrency: integer(),
    /** Who set them: `operator` (through the API) or `declared` (the queue's job types). */
    setBy: text().$type<'operator' | 'declared'>().notNull().default('operator'),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [check('queue_limits_set_by_check', sql`${t.setBy} in ('operator', 'declared')`)],
);
