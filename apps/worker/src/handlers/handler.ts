import type { JobInput, JobType, TestingJobInput, TestingJobType } from '@conveyor/core/jobs';
import type { Logger } from '@conveyor/core/log';

/** What a handler gets besides its input. */
export interface HandlerContext {
  jobId: string;
  type: string;
  /** 1-based number of this attempt. */
  attempt: number;
  maxAttempts: number;
  /** Aborts on timeout, cancellation or shutdown; long handlers must honour it. */
  signal: AbortSignal;
  /** Child logger bound to jobId, type and attempt. */
  log: Logger;
  /** Reports progress (0–100 or an object); shown on the job and sent as an event. */
  progress(value: number | Record<string, unknown>): Promise<void>;
  /** Appends a line to the job's log. */
  appendLog(line: string): Promise<void>;
}

/**
 * Runs one attempt of a job. Resolve with a JSON-serialisable result; throw to fail the
 * attempt (a ConveyorError with `retryable: false` fails the job at once).
 */
export type Handler<Input> = (input: Input, ctx: HandlerContext) => Promise<unknown>;

/** One handler per catalog type: a type without a handler does not compile. */
export type HandlerTable = { [T in JobType]: Handler<JobInput<T>> };
export type TestingHandlerTable = { [T in TestingJobType]: Handler<TestingJobInput<T>> };
