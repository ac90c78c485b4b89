import type { Logger } from '@conveyor/core/log';
import type { JobContext } from '@conveyor/sdk';

/** What a handler gets besides its input: the SDK's job context, with the worker's pino logger. */
export interface HandlerContext extends JobContext {
  /** Child logger bound to jobId, type and attempt. */
  log: Logger;
}

/**
 * Runs one attempt of a job. Resolve with a JSON-serialisable result; throw to fail the
 * attempt (a NonRetryableError, or a ConveyorError with `retryable: false`, fails the job at once).
 */
export type Handler<Input> = (input: Input, ctx: HandlerContext) => Promise<unknown>;
