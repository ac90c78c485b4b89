import type { CallbackDispatcher } from '@conveyor/core/callbacks';
import { type NewJobRow, type RecordedOutcome, terminalRow } from '@conveyor/core/db';
import {
  type ErrorRecord,
  isConveyorError,
  summarizeIssues,
  toErrorRecord,
  toFieldIssues,
} from '@conveyor/core/errors';
import type { EventPublisher, StatusEvent } from '@conveyor/core/events';
import {
  announceOutcome,
  attemptCount,
  bullJobLogsKey,
  handlerStarts,
  type JobEnvelope,
  type JobRegistry,
  jobEnvelope,
  publicJobId,
  type TerminalStatus,
  unreadableEnvelope,
} from '@conveyor/core/jobs';
import type { Logger } from '@conveyor/core/log';
import { createTenantInFlight } from '@conveyor/core/redis';
import { isNonRetryableError } from '@conveyor/sdk';
import { type Job, UnrecoverableError } from 'bullmq';
import type { Redis } from 'ioredis';
import * as v from 'valibot';
import { attemptSignal } from './attempt-signal.js';
import type { Batcher } from './batcher.js';
import { DEFAULT_UNSERVED, HandBack, handBackJob, NotServed, type UnservedPolicy } from './hand-back.js';
import type { Handler, HandlerContext } from './handler.js';
import type { WorkerMetrics } from './metrics.js';
import { recordTerminal } from './terminal-recorder.js';

export interface ProcessorDeps {
  registry: JobRegistry;
  /** The worker's connection, to read a job's log lines when it ends. */
  redis: Redis;
  prefix: string;
  /** Handler by type name; every registered type must have one. */
  handlers: Readonly<Record<string, Handler<never>>>;
  writer: Batcher<NewJobRow, RecordedOutcome>;
  publisher: EventPublisher;
  logger: Logger;
  /** Aborts when the grace period of a shutdown has run out: running jobs are handed back. */
  shutdown: AbortSignal;
  metrics?: WorkerMetrics | undefined;
  /** Enqueues completion callbacks and webhook deliveries once a terminal row is committed. */
  callbacks?: CallbackDispatcher | undefined;
  /** What happens to a job whose type this worker does not serve. @defaultValue {@link DEFAULT_UNSERVED} */
  unserved?: UnservedPolicy | undefined;
}

/**
 * A job whose worker died this many times while running it is failed instead of run again
 * (a poison job that crashes its process would otherwise loop forever).
 */
export const MAX_CRASHES = 5;

type Outcome =
  | { status: 'completed'; result: unknown }
  | { status: Exclude<TerminalStatus, 'completed'>; error: ErrorRecord };

/** Settles with the handler, or rejects with the signal's reason as soon as it aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * The BullMQ processor: the one place where Conveyor's job model meets BullMQ's.
 * A terminal outcome is committed to Postgres before this function returns or throws
 * the error that makes BullMQ finish the job, so a crash re-runs a job rather than
 * loses it.
 */
export function createProcessor(deps: ProcessorDeps) {
  const { registry, handlers, writer, publisher, logger, shutdown, metrics, redis, prefix, callbacks } = deps;
  const unserved = deps.unserved ?? DEFAULT_UNSERVED;
  const inFlight = createTenantInFlight(redis, prefix);

  function publish(event: StatusEvent, log: () => Logger): void {
    publisher
      .publish(event)
      .catch((error: unknown) => log().warn({ err: error }, 'publishing status event failed'));
  }

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

  /**
   * Queue wait of a job's first attempt: from the moment it could run (its enqueue, or the end
   * of its delay; for a retry through the API, that re-submit) to the moment a worker took it.
   * Later attempts wait out a backoff, not the queue, so they are not counted.
   */
  function observeWait(job: Job<JobEnvelope>, envelope: JobEnvelope): void {
    if (!metrics || !(job.name in handlers) || job.attemptsMade > 0 || handlerStarts(job) > 1) return;
    const enqueuedAt = (envelope.generation ?? 0) > 0 ? Date.parse(envelope.submittedAt) : job.timestamp;
    const readyAt = enqueuedAt + (job.opts.delay ?? 0);
    const startedAt = job.processedOn ?? Date.now();
    if (Number.isFinite(readyAt))
      metrics.jobWait.observe({ type: job.name }, Math.max(0, startedAt - readyAt) / 1_000);
  }

  async function processJob(job: Job<JobEnvelope>, cancel: AbortSignal | undefined): Promise<unknown> {
    // The job's id within its tenant; BullMQ's own id (job.id) names its Redis keys.
    const id = publicJobId(job);
    const parsed = v.safeParse(jobEnvelope, job.data);
    // A payload this release cannot read still ends as a row, with the reason.
    const envelope: JobEnvelope = parsed.success ? parsed.output : unreadableEnvelope(job);
    // Attempt numbers continue across retries through the API (generations).
    const count = attemptCount(job, envelope);
    const { offset, current: attempt, max: maxAttempts } = count;
    let logged = false;
    // Every line about this job carries its id, tenant and type: one grep follows it. The
    // child logger is made only when something logs through it (a handler, a warning): the
    // outcome line, the one every job writes, takes the fields directly.
    // `base` is also every status event's head; the log lines add the submitting request's id.
    const base = { jobId: id, tenant: envelope.tenant, type: job.name, queue: job.queueName, attempt };
    const fields = envelope.requestId === undefined ? base : { ...base, requestId: envelope.requestId };
    let child: Logger | undefined;
    const jobLog = (): Logger => {
      child ??= logger.child(fields);
      return child;
    };
    if (parsed.success) observeWait(job, envelope);
    const startedAt = new Date();

    const outcome = await run();
    if (outcome.status === 'completed' || !outcome.error.retryable || attempt >= maxAttempts) {
      return finish(outcome);
    }
    // The attempt failed and BullMQ will retry it: keep its error on the job, then rethrow.
    const attemptErrors = [...(envelope.attemptErrors ?? []), outcome.error];
    await job.updateData({ ...envelope, attemptErrors });
    publish({ ...base, status: 'queued', error: outcome.error, ts: new Date().toISOString() }, jobLog);
    metrics?.jobRetries.inc({ type: job.name });
    jobLog().info(
      { status: 'retrying', error: outcome.error, ms: Date.now() - startedAt.getTime() },
      'attempt failed, will retry',
    );
    throw new Error(outcome.error.message);

    async function run(): Promise<Outcome> {
      if (!parsed.success) {
        return fail('VALIDATION_FAILED', `unreadable job payload: ${v.summarize(parsed.issues)}`);
      }
      // Checked when the job is first picked up, before anything runs: no sweeper is needed.
      // A job that has started once (a retry, a re-run after a crash) is not stale.
      const { expiresAt } = envelope;
      if (expiresAt !== undefined && job.attemptsMade === 0 && count.runs <= 1 && Date.now() > expiresAt) {
        const late = Date.now() - expiresAt;
        return {
          status: 'expired',
          error: errorAt(
            'EXPIRED',
            `not started before it expired at ${new Date(expiresAt).toISOString()} (picked up ${late} ms later)`,
            false,
          ),
        };
      }
      if (job.stalledCounter >= MAX_CRASHES) {
        return fail(
          'HANDLER_FAILED',
          `the worker running this job stopped ${job.stalledCounter} times; not running it again`,
        );
      }
      const definition = registry.get(job.name);
      const handler = handlers[job.name] as Handler<unknown> | undefined;
      if (!definition || !handler) {
        const handBacks = envelope.handBacks ?? 0;
        if (handBacks < unserved.handBacks) throw new NotServed(envelope);
        return fail(
          'JOB_TYPE_NOT_SERVED',
          `no worker that took this job serves type ${job.name} (handed back ${handBacks} times; ` +
            `the last one serves ${registry.names().join(', ')}): is a worker with this type running on queue ${job.queueName}?`,
        );
      }
      // Re-parse on dequeue: Redis may hold payloads written by an older release.
      const input = v.safeParse(definition.input, envelope.input);
      if (!input.success) {
        return fail(
          'VALIDATION_FAILED',
          `invalid input: ${summarizeIssues(toFieldIssues(input.issues, 'data'))}`,
        );
      }

      const attemptAbort = attemptSignal({ timeoutMs: envelope.timeoutMs, shutdown, cancel });
      const { signal } = attemptAbort;
      const ctx: HandlerContext = {
        jobId: id,
        type: job.name,
        attempt,
        maxAttempts,
        signal,
        get log() {
          return jobLog();
        },
        progress: async (value) => {
          await job.updateProgress(value);
          publish({ ...base, status: 'active', progress: value, ts: new Date().toISOString() }, jobLog);
        },
        appendLog: async (line) => {
          logged = true;
          await job.log(line);
        },
      };
      publish({ ...base, status: 'active', ts: startedAt.toISOString() }, jobLog);
      const stopClock = metrics?.jobDuration.startTimer({ type: job.name });
      try {
        const result = (await untilAborted(handler(input.output, ctx), signal)) ?? null;
        stopClock?.();
        return { status: 'completed', result };
      } catch (error) {
        if (shutdown.aborted && !attemptAbort.timedOut) throw new HandBack();
        stopClock?.();
        if (attemptAbort.timedOut) {
          return fail(
            'TIMEOUT',
            `attempt ${attempt} ran longer than its ${envelope.timeoutMs} ms timeout`,
            true,
          );
        }
        if (cancel?.aborted) return { status: 'cancelled', error: errorAt('CANCELLED', 'cancelled', false) };
        const record = toErrorRecord(error);
        if (error instanceof UnrecoverableError || isNonRetryableError(error)) record.retryable = false;
        if (!isConveyorError(error)) jobLog().warn({ err: error }, 'handler threw');
        return { status: 'failed', error: { ...record, attempt, at: new Date().toISOString() } };
      } finally {
        attemptAbort.dispose();
      }
    }

    function errorAt(code: ErrorRecord['code'], message: string, retryable: boolean): ErrorRecord {
      return { code, message, retryable, attempt, at: new Date().toISOString() };
    }

    function fail(code: ErrorRecord['code'], message: string, retryable = false): Outcome {
      return { status: 'failed', error: errorAt(code, message, retryable) };
    }

    async function finish(result: Outcome): Promise<unknown> {
      const errors = envelope.attemptErrors ?? [];
      // Only a job that logged (now or in an earlier attempt) costs a read of its log list.
      const logs = logged || attempt > 1 ? await redis.lrange(bullJobLogsKey(job), 0, -1) : [];
      // An expired job's handler never ran, nor did that of a type no worker served.
      const unrun =
        result.status === 'expired' ||
        (result.status === 'failed' && result.error.code === 'JOB_TYPE_NOT_SERVED');
      const row = terminalRow(job, envelope, {
        status: result.status,
        result: result.status === 'completed' ? result.result : null,
        error: result.status === 'completed' ? null : result.error,
        attemptErrors: result.status === 'completed' ? errors : [...errors, result.error],
        attempts: unrun ? offset : attempt,
        runs: unrun ? 0 : Math.max(1, count.runs),
        logs,
        startedAt: unrun ? null : new Date(job.processedOn ?? startedAt.getTime()),
        finishedAt: new Date(),
      });
      let stored: RecordedOutcome;
      try {
        stored = await recordTerminal(writer, row, { signal: shutdown, log: jobLog });
      } catch {
        throw new HandBack();
      }
      // The job leaves its tenant's in-flight set (the API added it at submit).
      inFlight.release(envelope.tenant, [{ queue: job.queueName, jobId: job.id ?? '' }]).catch(() => {});
      // What is reported is what the row holds: the first terminal result of this generation
      // wins (a cancel that came first, or the first run before a crash), and the event, the
      // callbacks, the metric and BullMQ's own end of the job all say the same.
      const current = stored.generation === row.generation;
      const final: Outcome = !current
        ? result
        : stored.status === 'completed'
          ? { status: 'completed', result: stored.result }
          : {
              status: stored.status,
              error: stored.error ?? errorAt('HANDLER_FAILED', `recorded ${stored.status}`, false),
            };
      const ts = row.finishedAt?.toISOString() ?? new Date().toISOString();
      metrics?.jobsFinished.inc({ type: job.name, status: final.status });
      const ms = Date.now() - startedAt.getTime();
      const event: StatusEvent =
        final.status === 'completed'
          ? { ...base, status: 'completed', result: final.result, ts }
          : { ...base, status: final.status, error: final.error, ts };
      if (final.status === 'completed') logger.info({ ...fields, status: 'completed', ms }, 'job finished');
      else logger.info({ ...fields, status: final.status, error: final.error, ms }, 'job finished');
      // A newer generation (the job was retried through the API) has its own record and
      // its own events: this run's end is not news.
      // Announced before the job is acknowledged: a crash here re-runs the job, and the re-run
      // names the same deliveries (ids from job, generation and target).
      // (A failure is logged with the job's id on the root logger: no child logger per job.)
      if (current) await announceOutcome({ publisher, callbacks, logger }, event, envelope);
      if (final.status === 'completed') return final.result;
      // Recorded: BullMQ must not retry it.
      throw new UnrecoverableError(final.error.message);
    }
  }
}
