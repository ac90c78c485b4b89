import { DrizzleQueryError } from 'drizzle-orm/errors';

/**
 * A failed query as it may be logged: its SQL and where it was thrown, not its parameters.
 * The `type` of the log line names it, so a reader knows the parameters were left out.
 */
class RedactedQueryError extends Error {
  override readonly name = 'RedactedQueryError';
  readonly query: string;

  constructor(failure: DrizzleQueryError, cause: unknown) {
    super(`Failed query: ${failure.query}`, cause === undefined ? undefined : { cause });
    this.query = failure.query;
    // drizzle's stack starts with its message, parameters included: keep only the frames.
    const head = `${failure.name}: ${failure.message}`;
    const frames = failure.stack?.startsWith(head) ? failure.stack.slice(head.length) : '';
    this.stack = `${this.name}: ${this.message}${frames}`;
  }
}

function redact(error: Error, seen: Set<Error>): Error {
  seen.add(error);
  const original = error.cause;
  const cause =
    original instanceof Error ? (seen.has(original) ? undefined : redact(original, seen)) : original;
  if (error instanceof DrizzleQueryError) return new RedactedQueryError(error, cause);
  if (cause === original) return error;
  const copy = Object.create(Object.getPrototypeOf(error), Object.getOwnPropertyDescriptors(error)) as Error;
  Object.defineProperty(copy, 'cause', {
    value: cause,
    writable: true,
    configurable: true,
    enumerable: false,
  });
  return copy;
}

/**
 * `error` as it may be logged: every DrizzleQueryError along its cause chain replaced by an
 * error with the same SQL and stack frames but without the bound parameters, which drizzle
 * 0.45 puts in the message (a webhook's signing secret, when its INSERT fails). Errors are
 * copied, never changed, since the caller may still hold or rethrow them; `error` itself is
 * returned when its chain holds no query failure. A cause that loops back ends the chain.
 */
export function redactQueryParams(error: Error): Error {
  return redact(error, new Set());
}
