import type { NewJobRow } from '@conveyor/core/db';
import { type ErrorRecord, findUnstorable, toStorable } from '@conveyor/core/errors';

/** A value as it travels to Postgres (JSON), so what is checked is what is sent (toJSON applied). */
function asJson(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text === undefined ? null : JSON.parse(text);
}

/** A time Postgres can store, else `fallback`. */
function storableDate(value: Date | null | undefined, fallback: Date): Date {
  return value instanceof Date && Number.isFinite(value.getTime()) && Math.abs(value.getFullYear()) < 10_000
    ? value
    : fallback;
}

/**
 * The rows to try, in order, in place of a terminal row Postgres refused for its data
 * (`problem`, from SQLSTATE class 22). The job ends `failed` with UNSTORABLE_RESULT, which
 * is not retried, and the message names what was refused:
 * 1. when a string or key Postgres cannot hold (NUL, a lone UTF-16 surrogate) is found, the
 *    row with every such character replaced by U+FFFD, so its result, logs and data are kept;
 * 2. the row without its input, result, metadata, progress, logs and callbackUrl, and with
 *    its times checked: what is left are ids, names and counts.
 *
 * @example
 * for (const fallback of unstorableFallbacks(row, 'a value cannot be stored as given')) …
 */
export function unstorableFallbacks(row: NewJobRow, problem: string): NewJobRow[] {
  const now = new Date();
  const found = findUnstorable(asJson(row));
  const failure = (message: string): ErrorRecord => ({
    code: 'UNSTORABLE_RESULT',
    message,
    retryable: false,
    attempt: row.error?.attempt ?? row.attempts,
    at: now.toISOString(),
  });
  const minimalError = failure(
    `the job's ${row.status} outcome could not be stored (${found ? `${found.path} ${found.message}` : problem}); its input, result, metadata, progress and logs were dropped`,
  );
  const minimal: NewJobRow = {
    ...(toStorable({
      id: row.id,
      tenant: row.tenant,
      type: row.type,
      queue: row.queue,
      idempotencyKey: row.idempotencyKey,
      scheduleId: row.scheduleId,
    }) as Pick<NewJobRow, 'id' | 'type' | 'queue'>),
    status: 'failed',
    error: minimalError,
    attemptErrors: [minimalError],
    attempts: row.attempts,
    maxAttempts: row.maxAttempts,
    runs: row.runs,
    generation: row.generation,
    createdAt: storableDate(row.createdAt, now),
    startedAt: row.startedAt ? storableDate(row.startedAt, now) : null,
    finishedAt: storableDate(row.finishedAt, now),
  };
  if (!found) return [minimal];

  const error = failure(
    `the job's ${row.status} outcome could not be stored: ${found.path} ${found.message}; it was kept with U+FFFD in place of each such character`,
  );
  const safe: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) {
    safe[key] = value instanceof Date ? value : toStorable(asJson(value));
  }
  const earlier = (safe.attemptErrors as ErrorRecord[] | undefined) ?? [];
  return [{ ...(safe as NewJobRow), status: 'failed', error, attemptErrors: [...earlier, error] }, minimal];
}
