import type { Job } from 'bullmq';
import { publicJobId } from '../jobs/job-key.js';
import { attemptCount } from '../jobs/job-lifecycle.js';
import { logicalQueueName } from '../jobs/queue-partitions.js';
import type { JobEnvelope } from '../jobs/submit.js';
import type { NewJobRow } from './schema.js';

/** The columns of a terminal row that describe the job itself rather than how it ended. */
export type JobColumns = Pick<
  NewJobRow,
  | 'id'
  | 'tenant'
  | 'type'
  | 'queue'
  | 'input'
  | 'priority'
  | 'metadata'
  | 'tags'
  | 'progress'
  | 'idempotencyKey'
  | 'generation'
  | 'scheduleId'
  | 'flowId'
  | 'parentId'
  | 'childIds'
  | 'expiresAt'
  | 'callbackUrl'
  | 'timeoutMs'
  | 'attemptLimit'
  | 'createdAt'
>;

/**
 * Those columns from a BullMQ job and its envelope: one mapping for every writer of a
 * terminal row (the worker, a cancel through the API), so a new column is added once.
 */
export function jobColumns(job: Job<JobEnvelope>, envelope: JobEnvelope = job.data): JobColumns {
  return {
    id: publicJobId(job),
    tenant: envelope.tenant,
    type: job.name,
    queue: logicalQueueName(job.queueName),
    input: envelope.input,
    priority: job.opts.priority || null,
    metadata: envelope.metadata,
    tags: envelope.tags?.length ? envelope.tags : null,
    progress: job.progress === 0 ? null : job.progress,
    idempotencyKey: envelope.idempotencyKey ?? null,
    generation: envelope.generation ?? 0,
    scheduleId: envelope.scheduleId ?? null,
    flowId: envelope.flow?.id ?? null,
    parentId: envelope.flow?.parentId ?? null,
    childIds: envelope.flow ? (envelope.flow.children ?? []).map((child) => child.id) : null,
    expiresAt: envelope.expiresAt === undefined ? null : new Date(envelope.expiresAt),
    callbackUrl: envelope.callbackUrl ?? null,
    timeoutMs: envelope.timeoutMs,
    attemptLimit: job.opts.attempts ?? null,
    createdAt: new Date(job.timestamp),
  };
}

/** How a job ended, as its terminal row records it (the rest comes from the job itself). */
export type JobEnd = Pick<
  NewJobRow,
  'status' | 'result' | 'error' | 'attemptErrors' | 'attempts' | 'runs' | 'startedAt' | 'finishedAt'
> &
  Partial<Pick<NewJobRow, 'logs'>>;

/**
 * A job's terminal row: its columns, its last possible attempt (attemptCount's), and how it
 * ended. Every writer of a terminal row builds it here: the worker for an outcome, the API
 * for a cancel.
 */
export function terminalRow(job: Job<JobEnvelope>, envelope: JobEnvelope, end: JobEnd): NewJobRow {
  return { ...jobColumns(job, envelope), maxAttempts: attemptCount(job, envelope).max, ...end };
}
