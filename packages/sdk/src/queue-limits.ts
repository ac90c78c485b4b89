/**
 * A queue's limits across every worker, on top of each worker process's WORKER_CONCURRENCY:
 * what a job type declares for its queue (`defineJob({ queueLimits })`) and what an operator
 * sets through the API (PATCH /v1/queues/:name/limits). One owner of their bounds.
 */
export interface QueueLimitsDeclaration {
  /** At most `max` jobs of the queue started per `durationMs`, across all workers. */
  rateLimit?: { max: number; durationMs: number };
  /** At most this many jobs of the queue running at once, across all workers. */
  concurrency?: number;
}

/** The bounds of each limit (0 would stop the queue: pause it instead). */
export const QUEUE_LIMIT_BOUNDS = {
  rateMax: { min: 1, max: 1_000_000 },
  rateDurationMs: { min: 100, max: 86_400_000 },
  concurrency: { min: 1, max: 100_000 },
} as const;

/** What is wrong with `limits`, one message per field (path, message); empty when nothing. */
export function queueLimitsProblems(limits: QueueLimitsDeclaration): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  const check = (path: string, value: unknown, { min, max }: { min: number; max: number }) => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
      problems.push({ path, message: `must be a whole number from ${min} to ${max}` });
  };
  const known = new Set(['rateLimit', 'concurrency']);
  for (const key of Object.keys(limits))
    if (!known.has(key)) problems.push({ path: key, message: 'unknown limit' });
  if (limits.rateLimit !== undefined) {
    check('rateLimit.max', limits.rateLimit?.max, QUEUE_LIMIT_BOUNDS.rateMax);
    check('rateLimit.durationMs', limits.rateLimit?.durationMs, QUEUE_LIMIT_BOUNDS.rateDurationMs);
  }
  if (limits.concurrency !== undefined)
    check('concurrency', limits.concurrency, QUEUE_LIMIT_BOUNDS.concurrency);
  return problems;
}
