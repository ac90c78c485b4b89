import { handlerStarts, type JobEnvelope, type JobRegistry } from '@conveyor/core/jobs';
import type { Job } from 'bullmq';
import { type Admitted, admit } from './admission.js';
import { type Attempt, type Outcome, openAttempt, publishQuietly } from './attempt.js';
import { createFinisher, type FinishDeps } from './finish-job.js';
import { type ChildReader, gateOnChildren } from './flow-gate.js';
import { DEFAULT_UNSERVED, handBackJob, type UnservedPolicy } from './hand-back.js';
import type { Handler } from './handler.js';
import { runHandler } from './run-handler.js';

export interface ProcessorDeps extends FinishDeps {
  registry: JobRegistry;
  /** Handler by type name; every registered type must have one. */
  handlers: Readonly<Record<string, Handler<never>>>;
  /** What happens to a job whose type this worker does not serve. @defaultValue {@link DEFAULT_UNSERVED} */
  unserved?: UnservedPolicy | undefined;
  /** How a flow node's children ended (their rows). */
  readChildren: ChildReader;
}

/**
 * The BullMQ processor: the one place where Conveyor's job model meets BullMQ's. Each job
 * goes through the same steps: open the attempt, admit it (or end it unrun), run its
 * handler, then either finish it (the row, the event, the webhook deliveries) or leave it to BullMQ
 * to retry. A terminal outcome is committed to Postgres before this function returns or
 * throws the error that makes BullMQ finish the job, so a crash re-runs a job rather than
 * loses it.
 */
export function createProcessor(deps: ProcessorDeps) {
  const { registry, handlers, publisher, logger, metrics } = deps;
  const unserved = deps.unserved ?? DEFAULT_UNSERVED;
  const finish = createFinisher(deps);

  return async function process(
    job: Job<JobEnvelope>,
    token?: string,
    cancel?: AbortSignal,
  ): Promise<unknown> {
    metrics?.jobsActive.inc({ type: job.name });
    try {
      return await processJob(job, cancel);
    } catch (error) {
      // Handed back unrun (shutting down, or a type this worker does not serve), or rethrown.
      return await handBackJob(job, error, { token, unserved, logger, metrics });
    } finally {
      metrics?.jobsActive.dec({ type: job.name });
    }
  };

  async function processJob(job: Job<JobEnvelope>, cancel: AbortSignal | undefined): Promise<unknown> {
    const attempt = openAttempt(job, logger);
    if (attempt.unreadable === undefined) observeWait(attempt);
    const admitted = admit(attempt, { registry, handlers, unserved });
    const gated = 'outcome' in admitted ? admitted : await gateOnChildren(attempt, deps.readChildren);
    const outcome =
      'outcome' in gated
        ? gated.outcome
        : await runHandler(attempt, { ...(admitted as Admitted), children: gated.children }, cancel, deps);
    if (
      outcome.status !== 'completed' &&
      outcome.error.retryable &&
      attempt.count.current < attempt.count.max
    ) {
      return await retryLater(attempt, outcome);
    }
    return await finish(attempt, outcome);
  }

  /** The attempt failed and BullMQ will retry it: keep its error on the job, then rethrow. */
  async function retryLater(
    attempt: Attempt,
    outcome: Exclude<Outcome, { status: 'completed' }>,
  ): Promise<never> {
    const { job, envelope } = attempt;
    const attemptErrors = [...(envelope.attemptErrors ?? []), outcome.error];
    await job.updateData({ ...envelope, attemptErrors });
    publishQuietly(
      publisher,
      { ...attempt.base, status: 'queued', error: outcome.error, ts: new Date().toISOString() },
      attempt,
    );
    metrics?.jobRetries.inc({ type: job.name });
    attempt
      .log()
      .info(
        { status: 'retrying', error: outcome.error, ms: Date.now() - attempt.startedAt.getTime() },
        'attempt failed, will retry',
      );
    throw new Error(outcome.error.message);
  }

  /**
   * Queue wait of a job's first attempt: from the moment it could run (its enqueue, or the end
   * of its delay; for a retry through the API, that re-submit) to the moment a worker took it.
   * Later attempts wait out a backoff, not the queue, so they are not counted.
   */
  function observeWait({ job, envelope }: Attempt): void {
    if (!metrics || !(job.name in handlers) || job.attemptsMade > 0 || handlerStarts(job) > 1) return;
    const enqueuedAt = (envelope.generation ?? 0) > 0 ? Date.parse(envelope.submittedAt) : job.timestamp;
    const readyAt = enqueuedAt + (job.opts.delay ?? 0);
    const startedAt = job.processedOn ?? Date.now();
    if (Number.isFinite(readyAt))
      metrics.jobWait.observe({ type: job.name }, Math.max(0, startedAt - readyAt) / 1_000);
  }
}
