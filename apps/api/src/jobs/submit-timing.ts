import type { FieldIssue } from '@conveyor/core/errors';
import { MAX_DELAY_MS, MAX_TTL_MS, type SubmitJobBody } from '@conveyor/core/jobs';
import type { RegisteredJobType } from '../job-types/job-type-registry.js';

/**
 * When a submitted job may start and when it expires, from its `runAt`/`delayMs` and
 * `ttlMs`/`expiresAt` (or its type's ttl); each problem is pushed onto `issues` under its field.
 */

/** How far in the past a runAt may be (clock skew between client and API) and still run now. */
export const RUN_AT_SKEW_MS = 5_000;

/** The job's delay in ms from `now`; 0 for one due at once. */
export function delayOf(body: SubmitJobBody, now: number, issues: FieldIssue[]): number {
  if (body.runAt !== undefined && body.delayMs !== undefined) {
    issues.push({ path: 'runAt', message: 'give either runAt or delayMs, not both' });
    return 0;
  }
  if (body.runAt === undefined) return body.delayMs ?? 0;
  const delay = Date.parse(body.runAt) - now;
  if (delay < -RUN_AT_SKEW_MS) issues.push({ path: 'runAt', message: 'is in the past' });
  if (delay > MAX_DELAY_MS) issues.push({ path: 'runAt', message: 'is more than 365 days ahead' });
  return Math.max(0, delay);
}

/** Epoch ms the job expires at if not started, from the submit or the type; undefined: never. */
export function expiryOf(
  body: SubmitJobBody,
  definition: RegisteredJobType,
  dueAt: number,
  issues: FieldIssue[],
): number | undefined {
  if (body.ttlMs !== undefined && body.expiresAt !== undefined) {
    issues.push({ path: 'expiresAt', message: 'give either ttlMs or expiresAt, not both' });
    return undefined;
  }
  if (body.expiresAt === undefined) {
    const ttl = body.ttlMs ?? definition.ttlMs;
    return ttl === undefined ? undefined : dueAt + ttl;
  }
  const at = Date.parse(body.expiresAt);
  if (at <= Date.now()) issues.push({ path: 'expiresAt', message: 'is in the past' });
  else if (at <= dueAt)
    issues.push({ path: 'expiresAt', message: 'is before the job is due (runAt/delayMs)' });
  else if (at - dueAt > MAX_TTL_MS) {
    issues.push({ path: 'expiresAt', message: 'is more than 365 days after the job is due' });
  }
  return at;
}
