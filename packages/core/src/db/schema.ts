import { sql } from 'drizzle-orm';
import {
  check,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import type { ErrorRecord } from '../errors/index.js';
import type { TerminalStatus } from '../jobs/job-status.js';

/**
 * One row per job that reached a terminal status. In-flight jobs live in Redis (BullMQ);
 * the row is written, by job id, before the job is acknowledged to BullMQ.
 */
export const jobs = pgTable(
  'jobs',
  {
    id: uuid().primaryKey(),
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
    /** Handler executions, including re-runs after a crash (execution is at-least-once). */
    runs: integer().notNull().default(1),
    priority: integer(),
    metadata: jsonb().$type<Record<string, unknown>>(),
    progress: jsonb(),
    idempotencyKey: text(),
    /** Times the job was retried through the API; a higher generation's row replaces a lower one's. */
    generation: integer().notNull().default(0),
    /** Lines the handler appended with ctx.appendLog, across attempts. */
    logs: jsonb().$type<string[]>().notNull().default([]),
    createdAt: timestamp({ withTimezone: true }).notNull(),
    startedAt: timestamp({ withTimezone: true }),
    finishedAt: timestamp({ withTimezone: true }).notNull(),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check('jobs_status_check', sql`${t.status} in ('completed', 'failed', 'cancelled', 'expired')`),
    index('jobs_tenant_created_idx').on(t.tenant, t.createdAt.desc(), t.id),
    index('jobs_finished_idx').on(t.finishedAt),
    uniqueIndex('jobs_tenant_idempotency_key_idx')
      .on(t.tenant, t.idempotencyKey)
      .where(sql`${t.idempotencyKey} is not null`),
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
