import type { JobEnvelope } from '@conveyor/core/jobs';
import { publicJobId } from '@conveyor/core/jobs';
import type { Logger } from '@conveyor/core/log';
import { DelayedError, type Job, WaitingError } from 'bullmq';
import type { WorkerMetrics } from './metrics.js';

/**
 * Giving a job back to its queue unrun, no attempt used: when the worker shuts down with the
 * job still running past its grace, and when the job's type is one this worker does not serve.
 */

/**
 * A job can reach a worker that does not serve its type: workers of two releases share a
 * queue during a rolling deploy, or two projects' workers serve one queue with different
 * types. Such a job is handed back to its queue, delayed (no attempt used) so that another
 * worker may take it, and after `handBacks` of them fails `JOB_TYPE_NOT_SERVED`.
 */
export interface UnservedPolicy {
  /** Hand-backs before the job fails. */
  handBacks: number;
  /** Delay of the first hand-back, doubled for each next one. */
  firstDelayMs: number;
  /** Longest delay of one hand-back. */
  maxDelayMs: number;
}

/** Ten hand-backs over about three minutes (1, 2, 4, 8, 16, then 30 s each). */
export const DEFAULT_UNSERVED: UnservedPolicy = { handBacks: 10, firstDelayMs: 1_000, maxDelayMs: 30_000 };

/** Thrown inside the processor to give the job back to the queue instead of finishing it. */
export class HandBack extends Error {}

/** Thrown inside the processor for a job whose type this worker does not serve. */
export class NotServed extends Error {
  readonly envelope: JobEnvelope;
  constructor(envelope: JobEnvelope) {
    super('type not served here');
    this.envelope = envelope;
  }
}

/** The delay of the `n`th hand-back (1-based) of an unserved job. */
export function handBackDelayMs(policy: UnservedPolicy, n: number): number {
  return Math.min(policy.maxDelayMs, policy.firstDelayMs * 2 ** (n - 1));
}

/**
 * Gives `job` back to its queue for a HandBack or NotServed `reason` (rethrows anything
 * else): always throws the BullMQ error that tells the worker the job moved.
 */
export async function handBackJob(
  job: Job<JobEnvelope>,
  reason: unknown,
  {
    token,
    unserved,
    logger,
    metrics,
  }: {
    token: string | undefined;
    unserved: UnservedPolicy;
    logger: Logger;
    metrics?: WorkerMetrics | undefined;
  },
): Promise<never> {
  if (reason instanceof NotServed) {
    // Another worker may serve it: back to the queue after a delay, no attempt used.
    const handBacks = (reason.envelope.handBacks ?? 0) + 1;
    const delayMs = handBackDelayMs(unserved, handBacks);
    logger.warn(
      { jobId: publicJobId(job), tenant: reason.envelope.tenant, type: job.name, handBacks, delayMs },
      `this worker does not serve type ${job.name}; handing the job back to its queue`,
    );
    metrics?.jobsHandedBack.inc({ type: job.name });
    await job.updateData({ ...reason.envelope, handBacks });
    await job.moveToDelayed(Date.now() + delayMs, token);
    throw new DelayedError();
  }
  if (!(reason instanceof HandBack)) throw reason;
  // Shutting down: give the job back without using an attempt; another worker runs it.
  logger.info({ jobId: publicJobId(job), tenant: job.data?.tenant }, 'handing job back to the queue');
  await job.moveToWait(token);
  throw new WaitingError();
}
