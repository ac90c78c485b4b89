import type * as v from 'valibot';
import type { JobContext } from './job-context.js';
import { type QueueLimitsDeclaration, queueLimitsProblems } from './queue-limits.js';
import { isInternalQueue } from './reserved-queues.js';

/**
 * How long to wait before the next attempt. `exponential` doubles `delayMs` per attempt
 * and spreads retries with `jitter` (0–1, the fraction of the delay that is random).
 */
export interface BackoffOptions {
  type: 'fixed' | 'exponential';
  /** @defaultValue 1000 */
  delayMs: number;
  /** @defaultValue 0.25 for exponential, 0 for fixed */
  jitter?: number;
}

/** Everything about a job type except its input schema. */
export interface JobTypeOptions {
  /** The BullMQ queue its jobs go to; workers choose queues with WORKER_QUEUES. @defaultValue 'default' */
  queue: string;
  /** Time one attempt may run before its AbortSignal fires and it fails with TIMEOUT. @defaultValue 30000 */
  timeoutMs: number;
  /** Upper bound a submit may raise timeoutMs to. @defaultValue 10 × timeoutMs */
  maxTimeoutMs: number;
  /** Attempts before the job is `failed`, the first run included. @defaultValue 3 */
  attempts: number;
  /** Upper bound a submit may raise attempts to. @defaultValue 25 */
  maxAttempts: number;
  /** @defaultValue exponential from 1 s */
  backoff: BackoffOptions;
  /**
   * A job not started within this many ms of becoming due (submit time, or its delay/runAt)
   * ends `expired` without running; a submit's own `ttlMs`/`expiresAt` wins.
   * @defaultValue undefined: jobs of the type never expire
   */
  ttlMs?: number;
  /**
   * Limits of the type's queue across every worker: a rate limit (`max` jobs started per
   * `durationMs`) and a global concurrency. Every type of one queue that declares limits must
   * declare the same. The worker applies them when it starts, unless an operator set the
   * queue's limits through the API (PATCH /v1/queues/:name/limits), which wins.
   * @defaultValue undefined: the type declares none
   */
  queueLimits?: QueueLimitsDeclaration;
}

/** A job type: its name, what its input must look like, and how its jobs run. */
export interface JobDefinition<Name extends string = string, Schema extends v.GenericSchema = v.GenericSchema>
  extends JobTypeOptions {
  name: Name;
  description: string;
  input: Schema;
  /**
   * Runs one attempt: resolve with a JSON-serialisable result, throw to fail the attempt
   * (NonRetryableError fails the job at once). The worker parses the input with `input`
   * first. A definition without `run` declares the type only (its handler is elsewhere).
   * (A method, so a definition of any schema is a JobDefinition.)
   */
  run?(input: v.InferOutput<Schema>, ctx: JobContext): Promise<unknown>;
}

export type JobDefinitionInit<
  Name extends string,
  Schema extends v.GenericSchema,
> = Partial<JobTypeOptions> & {
  name: Name;
  description: string;
  input: Schema;
  run?(input: v.InferOutput<Schema>, ctx: JobContext): Promise<unknown>;
};

/**
 * Declares a job type once, in the project that runs it: its worker registers it (the API
 * validates submits against it) and runs it, and a client takes its types from it.
 *
 * @example
 * export const resize = defineJob({
 *   name: 'acme.resize',
 *   description: 'Resizes an image to a width.',
 *   queue: 'images',
 *   input: v.object({ url: v.pipe(v.string(), v.url()), width: v.pipe(v.number(), v.integer(), v.minValue(1)) }),
 *   run: async ({ url, width }, { signal }) => ({ url, width, bytes: await resizeImage(url, width, signal) }),
 * });
 */
export function defineJob<const Name extends string, Schema extends v.GenericSchema>(
  init: JobDefinitionInit<Name, Schema>,
): JobDefinition<Name, Schema> {
  const {
    queue = 'default',
    timeoutMs = 30_000,
    attempts = 3,
    backoff = { type: 'exponential', delayMs: 1_000 },
    maxTimeoutMs = timeoutMs * 10,
    maxAttempts = Math.max(25, attempts),
  } = init;
  if (!/^[a-z][a-z0-9-]{0,62}$/.test(queue))
    throw new Error(`job type ${init.name}: bad queue name "${queue}"`);
  if (isInternalQueue(queue)) throw new Error(`job type ${init.name}: queue "${queue}" is Conveyor's own`);
  if (init.ttlMs !== undefined && !(Number.isInteger(init.ttlMs) && init.ttlMs > 0))
    throw new Error(`job type ${init.name}: ttlMs must be a positive integer`);
  if (!/^[a-z][a-z0-9._-]{0,62}$/.test(init.name)) throw new Error(`bad job type name "${init.name}"`);
  if (init.queueLimits !== undefined) {
    const problems = queueLimitsProblems(init.queueLimits);
    if (problems.length > 0)
      throw new Error(
        `job type ${init.name}: bad queueLimits: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`,
      );
  }
  return { ...init, queue, timeoutMs, maxTimeoutMs, attempts, maxAttempts, backoff };
}
