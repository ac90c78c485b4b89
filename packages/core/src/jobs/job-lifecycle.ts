import type { Job, JobsOptions } from 'bullmq';
import type { ErrorRecord } from '../errors/conveyor-error.js';
import type { EventPublisher } from '../events/publisher.js';
import type { StatusEvent } from '../events/status-event.js';
import type { WebhookDispatcher } from '../webhooks/webhook-dispatcher.js';
import type { JobTypeOptions } from './define-job.js';
import { handlerStarts } from './job-key.js';
import { jobOptions } from './job-options.js';
import type { FlowPlace, JobEnvelope } from './submit.js';

/**
 * The one owner of a job's lifecycle arithmetic: what is enqueued for a submit, a schedule
 * tick or a retry (the envelope and its BullMQ options), and how attempts count across
 * retries through the API (generations). The API, the schedule runner and the worker all
 * build jobs and count attempts here, so a new option or a new rule is added once.
 */

/** What one generation of a job is asked to be: a submit's, a tick's or a retry's choices. */
export interface JobRequest {
  tenant: string;
  /** The job's id within its tenant. */
  id: string;
  input: unknown;
  metadata?: Record<string, unknown> | null | undefined;
  /** The job's own timeout per attempt; the type's when absent. */
  timeoutMs?: number | null | undefined;
  /** The job's own attempts for this generation; the type's when absent. */
  attempts?: number | null | undefined;
  priority?: number | null | undefined;
  delayMs?: number | undefined;
  /** When it was asked for (epoch ms): the envelope's submittedAt. */
  at: number;
  /** The time BullMQ orders it by; `at` when absent (a retry keeps its first submit's). */
  createdAt?: number | undefined;
  expiresAt?: number | undefined;
  idempotencyKey?: string | null | undefined;
  requestId?: string | undefined;
  callbackUrl?: string | null | undefined;
  scheduleId?: string | null | undefined;
  /** Its place in a flow, for a node of one. */
  flow?: FlowPlace | undefined;
  tags?: readonly string[] | null | undefined;
  /** For a retry: what the generation it replaces used. */
  previous?: { generation: number; attempts: number; attemptErrors: ErrorRecord[] } | undefined;
}

/** A job ready for `queue.add(name, envelope, options)`. */
export interface JobToEnqueue {
  envelope: JobEnvelope;
  options: JobsOptions;
}

/** The envelope and BullMQ options of `request`, with `definition`'s defaults beneath it. */
export function jobToEnqueue(
  definition: Pick<JobTypeOptions, 'attempts' | 'backoff' | 'timeoutMs'>,
  request: JobRequest,
): JobToEnqueue {
  const { previous } = request;
  const envelope: JobEnvelope = {
    v: 1,
    tenant: request.tenant,
    id: request.id,
    input: request.input ?? null,
    metadata: request.metadata ?? null,
    timeoutMs: request.timeoutMs ?? definition.timeoutMs,
    submittedAt: new Date(request.at).toISOString(),
    ...(previous
      ? {
          generation: previous.generation + 1,
          attemptOffset: previous.attempts,
          attemptErrors: previous.attemptErrors,
        }
      : {}),
    ...(request.idempotencyKey ? { idempotencyKey: request.idempotencyKey } : {}),
    ...(request.requestId === undefined ? {} : { requestId: request.requestId }),
    ...(request.expiresAt === undefined ? {} : { expiresAt: request.expiresAt }),
    ...(request.callbackUrl ? { callbackUrl: request.callbackUrl } : {}),
    ...(request.scheduleId ? { scheduleId: request.scheduleId } : {}),
    ...(request.flow ? { flow: request.flow } : {}),
    ...(request.tags?.length ? { tags: [...request.tags] } : {}),
  };
  const options = jobOptions(definition, {
    tenant: request.tenant,
    id: request.id,
    timestamp: request.createdAt ?? request.at,
    ...(request.attempts == null ? {} : { attempts: request.attempts }),
    priority: request.priority ?? null,
    ...(request.delayMs === undefined ? {} : { delay: request.delayMs }),
  });
  return { envelope, options };
}

/**
 * The envelope of a payload this release cannot read (an older or foreign producer): enough
 * to end the job as a row that says why.
 */
export function unreadableEnvelope(job: Pick<Job, 'data' | 'timestamp'>): JobEnvelope {
  const data = job.data as { tenant?: unknown } | null | undefined;
  return {
    v: 1,
    tenant: typeof data?.tenant === 'string' ? data.tenant : 'default',
    input: job.data,
    metadata: null,
    timeoutMs: 1,
    submittedAt: new Date(job.timestamp).toISOString(),
  };
}

/** How a job's attempts count: numbers continue across retries through the API. */
export interface AttemptCount {
  /** Attempts used by earlier generations. */
  offset: number;
  /** The attempt now running (or next to run), 1-based across generations. */
  current: number;
  /** Attempts started so far, every generation's (hand-backs by workers without the type not counted). */
  started: number;
  /** This generation's handler starts: re-runs after a crash count, hand-backs do not. */
  runs: number;
  /** The last attempt this generation may make, counted across generations. */
  max: number;
}

/** The attempt arithmetic of a BullMQ job of Conveyor's. */
export function attemptCount(
  job: Pick<Job, 'attemptsMade' | 'attemptsStarted' | 'opts'>,
  envelope: Pick<JobEnvelope, 'attemptOffset' | 'handBacks'>,
): AttemptCount {
  const offset = envelope.attemptOffset ?? 0;
  const runs = handlerStarts({ attemptsStarted: job.attemptsStarted, data: envelope });
  return {
    offset,
    current: offset + job.attemptsMade + 1,
    started: offset + runs,
    runs,
    max: offset + (job.opts.attempts ?? 1),
  };
}

/** Where a recorded outcome is announced. */
export interface OutcomeChannels {
  publisher: EventPublisher;
  webhooks?: WebhookDispatcher | undefined;
  /** Told when either fails. */
  logger: { warn(fields: object, message: string): void };
}

/**
 * Announces a job's recorded end, by whoever recorded it (the worker, or the API for a job
 * cancelled before it ran): its status event to the streams, then its deliveries to the
 * `callbacks` queue (ids from job, generation and target: announcing twice sends once).
 * Neither failing undoes the record; both are logged.
 */
export async function announceOutcome(
  { publisher, webhooks, logger }: OutcomeChannels,
  event: StatusEvent,
  job: Pick<JobEnvelope, 'generation' | 'callbackUrl'>,
  /** The job's BullMQ id, when the caller holds it: names its event channel without a hash. */
  queueJobId?: string,
): Promise<void> {
  publisher
    .publish(event, queueJobId)
    .catch((error: unknown) =>
      logger.warn({ err: error, jobId: event.jobId }, 'publishing status event failed'),
    );
  await webhooks
    ?.dispatch(event, { generation: job.generation ?? 0, callbackUrl: job.callbackUrl })
    .catch((error: unknown) =>
      logger.warn({ err: error, jobId: event.jobId }, 'enqueueing webhook deliveries failed'),
    );
}
