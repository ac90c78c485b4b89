import { summarizeIssues, toFieldIssues } from '@conveyor/core/errors';
import type { JobRegistry } from '@conveyor/core/jobs';
import type { ChildOutcome } from '@conveyor/sdk';
import * as v from 'valibot';
import { type Attempt, errorAt, failure, type Outcome } from './attempt.js';
import { NotServed, type UnservedPolicy } from './hand-back.js';
import type { Handler } from './handler.js';

/**
 * A job whose worker died this many times while running it is failed instead of run again
 * (a poison job that crashes its process would otherwise loop forever).
 */
export const MAX_CRASHES = 5;

export interface AdmissionDeps {
  registry: JobRegistry;
  handlers: Readonly<Record<string, Handler<never>>>;
  unserved: UnservedPolicy;
}

/** What may run: the type's handler and the parsed input (and, in a flow, its children's ends). */
export interface Admitted {
  handler: Handler<unknown>;
  input: unknown;
  children?: ChildOutcome[];
}

/**
 * The checks before a handler runs, in order: a readable payload, not expired, not a crash
 * loop, a type this worker serves (else handed back, throwing {@link NotServed}, until the
 * policy gives up) and an input the type accepts. Answers what may run, or the outcome that
 * ends the job without running it.
 */
export function admit(attempt: Attempt, deps: AdmissionDeps): Admitted | { outcome: Outcome } {
  const { job, envelope, count } = attempt;
  if (attempt.unreadable !== undefined) {
    return {
      outcome: failure(attempt, 'VALIDATION_FAILED', `unreadable job payload: ${attempt.unreadable}`),
    };
  }
  // Checked when the job is first picked up, before anything runs: no sweeper is needed.
  // A job that has started once (a retry, a re-run after a crash) is not stale.
  const { expiresAt } = envelope;
  if (expiresAt !== undefined && job.attemptsMade === 0 && count.runs <= 1 && Date.now() > expiresAt) {
    const late = Date.now() - expiresAt;
    const message = `not started before it expired at ${new Date(expiresAt).toISOString()} (picked up ${late} ms later)`;
    return { outcome: { status: 'expired', error: errorAt(attempt, 'EXPIRED', message, false) } };
  }
  if (job.stalledCounter >= MAX_CRASHES) {
    const message = `the worker running this job stopped ${job.stalledCounter} times; not running it again`;
    return { outcome: failure(attempt, 'HANDLER_FAILED', message) };
  }
  const definition = deps.registry.get(job.name);
  const handler = deps.handlers[job.name] as Handler<unknown> | undefined;
  if (!definition || !handler) {
    const handBacks = envelope.handBacks ?? 0;
    if (handBacks < deps.unserved.handBacks) throw new NotServed(envelope);
    const message =
      `no worker that took this job serves type ${job.name} (handed back ${handBacks} times; ` +
      `the last one serves ${deps.registry.names().join(', ')}): is a worker with this type running on queue ${job.queueName}?`;
    return { outcome: failure(attempt, 'JOB_TYPE_NOT_SERVED', message) };
  }
  // Re-parse on dequeue: Redis may hold payloads written by an older release.
  const input = v.safeParse(definition.input, envelope.input);
  if (!input.success) {
    const message = `invalid input: ${summarizeIssues(toFieldIssues(input.issues, 'data'))}`;
    return { outcome: failure(attempt, 'VALIDATION_FAILED', message) };
  }
  return { handler, input: input.output };
}
