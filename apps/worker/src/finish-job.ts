import { type NewJobRow, type RecordedOutcome, terminalRow } from '@conveyor/core/db';
import type { EventPublisher, StatusEvent } from '@conveyor/core/events';
import { announceOutcome, bullJobLogsKey } from '@conveyor/core/jobs';
import type { Logger } from '@conveyor/core/log';
import type { RedisClient } from '@conveyor/core/redis';
import { createTenantInFlight } from '@conveyor/core/redis';
import type { WebhookDispatcher } from '@conveyor/core/webhooks';
import { UnrecoverableError } from 'bullmq';
import { type Attempt, errorAt, type Outcome } from './attempt.js';
import type { Batcher } from './batcher.js';
import { HandBack } from './hand-back.js';
import type { WorkerMetrics } from './metrics.js';
import { recordTerminal } from './terminal-recorder.js';

export interface FinishDeps {
  /** The worker's connection, to read a job's log lines and release its in-flight slot. */
  redis: RedisClient;
  prefix: string;
  writer: Batcher<NewJobRow, RecordedOutcome>;
  publisher: EventPublisher;
  logger: Logger;
  /** Aborts when the grace period of a shutdown has run out: an unwritten row is handed back. */
  shutdown: AbortSignal;
  metrics?: WorkerMetrics | undefined;
  /** Enqueues the job's webhook deliveries once its terminal row is committed. */
  webhooks?: WebhookDispatcher | undefined;
}

/**
 * The finish step: a terminal outcome becomes the job's row (committed before BullMQ hears
 * of it), leaves the tenant's in-flight set, is logged, counted and announced, and is then
 * returned or thrown so that BullMQ ends the job the way the row says.
 */
export function createFinisher(deps: FinishDeps) {
  const { redis, writer, publisher, logger, shutdown, metrics, webhooks } = deps;
  const inFlight = createTenantInFlight(redis, deps.prefix);

  return async function finish(attempt: Attempt, outcome: Outcome): Promise<unknown> {
    const { job, envelope } = attempt;
    const row = await rowOf(attempt, outcome);
    let stored: RecordedOutcome;
    try {
      stored = await recordTerminal(writer, row, { signal: shutdown, log: attempt.log });
    } catch {
      throw new HandBack();
    }
    // The job leaves its tenant's in-flight set (the API added it at submit).
    inFlight.release(envelope.tenant, [{ queue: job.queueName, jobId: job.id ?? '' }]).catch(() => {});
    // What is reported is what the row holds: the first terminal result of this generation
    // wins (a cancel that came first, or the first run before a crash), and the event, the
    // webhook deliveries, the metric and BullMQ's own end of the job all say the same.
    const current = stored.generation === row.generation;
    const final: Outcome = !current
      ? outcome
      : stored.status === 'completed'
        ? { status: 'completed', result: stored.result }
        : {
            status: stored.status,
            error: stored.error ?? errorAt(attempt, 'HANDLER_FAILED', `recorded ${stored.status}`, false),
          };
    const ts = row.finishedAt?.toISOString() ?? new Date().toISOString();
    metrics?.jobsFinished.inc({ type: job.name, status: final.status });
    const ms = Date.now() - attempt.startedAt.getTime();
    const { base, fields } = attempt;
    const event: StatusEvent =
      final.status === 'completed'
        ? { ...base, status: 'completed', result: final.result, ts }
        : { ...base, status: final.status, error: final.error, ts };
    // The outcome line goes through the root logger with the job's fields: no child per job.
    if (final.status === 'completed') logger.info({ ...fields, status: 'completed', ms }, 'job finished');
    else logger.info({ ...fields, status: final.status, error: final.error, ms }, 'job finished');
    // A newer generation (the job was retried through the API) has its own record and its
    // own events: this run's end is not news. Announced before the job is acknowledged: a
    // crash here re-runs the job, and the re-run names the same deliveries (ids from job,
    // generation and target).
    if (current) await announceOutcome({ publisher, webhooks, logger }, event, envelope, attempt.queueJobId);
    // The result lives in the committed row, which every read of a finished job uses: BullMQ's
    // copy (its returnvalue, kept for up to an hour) is left empty rather than a second one.
    if (final.status === 'completed') return null;
    // Recorded: BullMQ must not retry it.
    throw new UnrecoverableError(final.error.message);
  };

  /** The job's terminal row for `outcome`, with its log lines. */
  async function rowOf(attempt: Attempt, outcome: Outcome): Promise<NewJobRow> {
    const { job, envelope, count } = attempt;
    const errors = envelope.attemptErrors ?? [];
    // Only a job that logged (now or in an earlier attempt) costs a read of its log list.
    const logs = attempt.logged || count.current > 1 ? await redis.lrange(bullJobLogsKey(job), 0, -1) : [];
    // An expired job's handler never ran, nor did that of a type no worker served, nor that
    // of a flow node failed by a child.
    const unrun =
      outcome.status === 'expired' ||
      (outcome.status === 'failed' &&
        (outcome.error.code === 'JOB_TYPE_NOT_SERVED' || outcome.error.code === 'CHILD_FAILED'));
    return terminalRow(job, envelope, {
      status: outcome.status,
      result: outcome.status === 'completed' ? outcome.result : null,
      error: outcome.status === 'completed' ? null : outcome.error,
      attemptErrors: outcome.status === 'completed' ? errors : [...errors, outcome.error],
      attempts: unrun ? count.offset : count.current,
      runs: unrun ? 0 : Math.max(1, count.runs),
      logs,
      startedAt: unrun ? null : new Date(job.processedOn ?? attempt.startedAt.getTime()),
      finishedAt: new Date(),
    });
  }
}
