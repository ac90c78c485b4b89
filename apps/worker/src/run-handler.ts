import { isConveyorError, toErrorRecord } from '@conveyor/core/errors';
import type { EventPublisher } from '@conveyor/core/events';
import { type ChildOutcome, isNonRetryableError } from '@conveyor/sdk';
import { UnrecoverableError } from 'bullmq';
import type { Admitted } from './admission.js';
import { type Attempt, errorAt, failure, type Outcome, publishQuietly } from './attempt.js';
import { attemptSignal } from './attempt-signal.js';
import { HandBack } from './hand-back.js';
import type { HandlerContext } from './handler.js';
import type { WorkerMetrics } from './metrics.js';

export interface RunDeps {
  publisher: EventPublisher;
  /** Aborts when the grace period of a shutdown has run out: the running job is handed back. */
  shutdown: AbortSignal;
  metrics?: WorkerMetrics | undefined;
}

/**
 * Runs an admitted attempt's handler under its timeout, the job's cancel and the worker's
 * shutdown, and says how it ended. A shutdown past its grace throws {@link HandBack}: the
 * job goes back to its queue unrecorded, no attempt used.
 */
export async function runHandler(
  attempt: Attempt,
  { handler, input, children = [] }: Admitted,
  cancel: AbortSignal | undefined,
  { publisher, shutdown, metrics }: RunDeps,
): Promise<Outcome> {
  const { job, envelope, base } = attempt;
  const attemptAbort = attemptSignal({ timeoutMs: envelope.timeoutMs, shutdown, cancel });
  const ctx: HandlerContext = {
    jobId: base.jobId,
    type: job.name,
    attempt: attempt.count.current,
    maxAttempts: attempt.count.max,
    get signal() {
      return attemptAbort.signal;
    },
    get log() {
      return attempt.log();
    },
    progress: async (value) => {
      await job.updateProgress(value);
      publishQuietly(
        publisher,
        { ...base, status: 'active', progress: value, ts: new Date().toISOString() },
        attempt,
      );
    },
    appendLog: async (line) => {
      attempt.logged = true;
      await job.log(line);
    },
    children: async <Result>() => children as ChildOutcome<Result>[],
  };
  publishQuietly(publisher, { ...base, status: 'active', ts: attempt.startedAt.toISOString() }, attempt);
  const stopClock = metrics?.jobDuration.startTimer({ type: job.name });
  try {
    const result = (await attemptAbort.race(handler(input, ctx))) ?? null;
    stopClock?.();
    return { status: 'completed', result };
  } catch (error) {
    if (shutdown.aborted && !attemptAbort.timedOut) throw new HandBack();
    stopClock?.();
    if (attemptAbort.timedOut) {
      const message = `attempt ${attempt.count.current} ran longer than its ${envelope.timeoutMs} ms timeout`;
      return failure(attempt, 'TIMEOUT', message, true);
    }
    if (cancel?.aborted)
      return { status: 'cancelled', error: errorAt(attempt, 'CANCELLED', 'cancelled', false) };
    const record = toErrorRecord(error);
    if (error instanceof UnrecoverableError || isNonRetryableError(error)) record.retryable = false;
    if (!isConveyorError(error)) attempt.log().warn({ err: error }, 'handler threw');
    return {
      status: 'failed',
      error: { ...record, attempt: attempt.count.current, at: new Date().toISOString() },
    };
  } finally {
    attemptAbort.dispose();
  }
}
