import type { ErrorRecord } from '@conveyor/core/errors';
import type { EventPublisher, StatusEvent } from '@conveyor/core/events';
import {
  type AttemptCount,
  attemptCount,
  type JobEnvelope,
  jobEnvelope,
  logicalQueueName,
  publicJobId,
  type TerminalStatus,
  unreadableEnvelope,
} from '@conveyor/core/jobs';
import type { Logger } from '@conveyor/core/log';
import type { Job } from 'bullmq';
import * as v from 'valibot';

/**
 * One attempt of a job as the processor's steps see it: the job read from BullMQ, its
 * attempt numbers and the fields every log line and status event about it carries.
 */
export interface Attempt {
  job: Job<JobEnvelope>;
  /**
   * BullMQ's id when it is `queueJobId(tenant, id)` (every job whose envelope carries its id):
   * names the job's event channel without hashing. Undefined for an older release's job.
   */
  queueJobId: string | undefined;
  /** The job's envelope, or for a payload this release cannot read, enough to end it. */
  envelope: JobEnvelope;
  /** Why the payload could not be read; undefined when it could. */
  unreadable: string | undefined;
  /** Attempt numbers continue across retries through the API (generations). */
  count: AttemptCount;
  /** Every status event's head. */
  base: EventHead;
  /** Every log line's fields: the event head and the submitting request's id. */
  fields: EventHead & { requestId?: string };
  /** When this attempt was picked up. */
  startedAt: Date;
  /** Whether the handler appended log lines to the job. */
  logged: boolean;
  /**
   * The job's logger. The child logger is made only when something logs through it (a
   * handler, a warning): the outcome line, the one every job writes, takes `fields` directly.
   */
  log(): Logger;
}

export interface EventHead {
  /** The job's id within its tenant; BullMQ's own id (job.id) names its Redis keys. */
  jobId: string;
  tenant: string;
  type: string;
  queue: string;
  attempt: number;
}

/** How an attempt ended, before it is recorded. */
export type Outcome =
  | { status: 'completed'; result: unknown }
  | { status: Exclude<TerminalStatus, 'completed'>; error: ErrorRecord };

/** Reads a job BullMQ handed over into the attempt the steps work on. */
export function openAttempt(job: Job<JobEnvelope>, logger: Logger): Attempt {
  const parsed = v.safeParse(jobEnvelope, job.data);
  const envelope: JobEnvelope = parsed.success ? parsed.output : unreadableEnvelope(job);
  const count = attemptCount(job, envelope);
  const base: EventHead = {
    jobId: publicJobId(job),
    tenant: envelope.tenant,
    type: job.name,
    queue: logicalQueueName(job.queueName),
    attempt: count.current,
  };
  const fields = envelope.requestId === undefined ? base : { ...base, requestId: envelope.requestId };
  let child: Logger | undefined;
  return {
    job,
    queueJobId: envelope.id === undefined ? undefined : job.id,
    envelope,
    unreadable: parsed.success ? undefined : v.summarize(parsed.issues),
    count,
    base,
    fields,
    startedAt: new Date(),
    logged: false,
    log() {
      child ??= logger.child(fields);
      return child;
    },
  };
}

/** An error of this attempt, stamped with its number and the time. */
export function errorAt(
  attempt: Attempt,
  code: ErrorRecord['code'],
  message: string,
  retryable: boolean,
): ErrorRecord {
  return { code, message, retryable, attempt: attempt.count.current, at: new Date().toISOString() };
}

/** A failed outcome of this attempt. */
export function failure(
  attempt: Attempt,
  code: ErrorRecord['code'],
  message: string,
  retryable = false,
): Outcome {
  return { status: 'failed', error: errorAt(attempt, code, message, retryable) };
}

/** Publishes a status event; a failure is logged, never thrown (the row is the record). */
export function publishQuietly(publisher: EventPublisher, event: StatusEvent, attempt: Attempt): void {
  publisher
    .publish(event, attempt.queueJobId)
    .catch((error: unknown) => attempt.log().warn({ err: error }, 'publishing status event failed'));
}
