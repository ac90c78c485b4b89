/**
 * Thrown from a job's `run` to fail the job at once, without using its remaining attempts
 * (bad input the schema could not catch, a resource that is gone for good).
 *
 * @example
 * if (response.status === 404) throw new NonRetryableError(`no image at ${url}`);
 */
export class NonRetryableError extends Error {
  override readonly name = 'NonRetryableError';
}

/**
 * Whether `error` is a NonRetryableError, also one from another copy of this package (a
 * project may install its own next to Conveyor's).
 */
export function isNonRetryableError(error: unknown): error is NonRetryableError {
  return error instanceof Error && error.name === 'NonRetryableError';
}
