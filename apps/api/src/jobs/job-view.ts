import type { JobRow } from '@conveyor/core/db';
import type { ErrorRecord } from '@conveyor/core/errors';
import {
  attemptCount,
  type JobEnvelope,
  type JobView,
  jobLinks,
  logicalQueueName,
  publicJobId,
  statusOfState,
} from '@conveyor/core/jobs';
import type { Job, JobState } from 'bullmq';

const iso = (ms: number | undefined): string | null => (ms ? new Date(ms).toISOString() : null);

/** The view of a job still in BullMQ. */
export function viewFromQueue(
  job: Job<JobEnvelope>,
  state: JobState | 'unknown',
  logs: string[] = [],
): JobView {
  const envelope = job.data;
  const id = publicJobId(job);
  // A worker that does not serve the type hands the job back unrun: not an attempt.
  const count = attemptCount(job, envelope);
  const lastError = envelope.attemptErrors?.at(-1);
  const error: ErrorRecord | null =
    lastError ??
    (job.failedReason ? { code: 'HANDLER_FAILED', message: job.failedReason, retryable: true } : null);
  return {
    id,
    type: job.name,
    queue: logicalQueueName(job.queueName),
    status: statusOfState[state] ?? 'queued',
    attempts: count.started,
    maxAttempts: count.max,
    priority: job.opts.priority || null,
    progress: job.progress === 0 ? null : job.progress,
    data: envelope.input,
    // A completed job's result is in its row (the worker leaves BullMQ's copy empty), which
    // the store reads first: this view is for jobs in flight.
    result: state === 'completed' ? (job.returnvalue ?? null) : null,
    error,
    metadata: envelope.metadata,
    tags: envelope.tags ?? [],
    attemptErrors: envelope.attemptErrors ?? [],
    logs,
    source: 'queue',
    expiresAt: iso(envelope.expiresAt),
    callbackUrl: envelope.callbackUrl ?? null,
    scheduleId: envelope.scheduleId ?? null,
    flowId: envelope.flow?.id ?? null,
    parentId: envelope.flow?.parentId ?? null,
    childIds: (envelope.flow?.children ?? []).map((child) => child.id),
    createdAt: new Date(job.timestamp).toISOString(),
    startedAt: count.runs > 0 ? iso(job.processedOn) : null,
    finishedAt: iso(job.finishedOn),
    links: jobLinks(id, envelope.flow?.id),
  };
}

/** The view of a finished job from its Postgres row. */
export function viewFromRow(row: JobRow): JobView {
  return {
    id: row.id,
    type: row.type,
    queue: row.queue,
    status: row.status,
    attempts: row.attempts,
    maxAttempts: row.maxAttempts,
    priority: row.priority,
    progress: row.progress ?? null,
    data: row.input,
    result: row.result ?? null,
    error: row.error ?? null,
    metadata: row.metadata ?? null,
    tags: row.tags ?? [],
    attemptErrors: row.attemptErrors,
    logs: row.logs,
    source: 'history',
    expiresAt: row.expiresAt?.toISOString() ?? null,
    callbackUrl: row.callbackUrl ?? null,
    scheduleId: row.scheduleId ?? null,
    flowId: row.flowId ?? null,
    parentId: row.parentId ?? null,
    childIds: row.childIds ?? [],
    createdAt: row.createdAt.toISOString(),
    startedAt: row.startedAt?.toISOString() ?? null,
    finishedAt: row.finishedAt.toISOString(),
    links: jobLinks(row.id, row.flowId),
  };
}
