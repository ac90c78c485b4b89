import * as v from 'valibot';
import { defineJob } from './define-job.js';

/**
 * Job types that exist only to provoke failure paths in tests and drills. They are not
 * part of the catalog: a process registers them only when ENABLE_TEST_JOB_TYPES=true.
 */
export const testingJobs = {
  /** Fails every attempt with `message`; `unrecoverable` fails at once without retries. */
  'test.fail': defineJob({
    name: 'test.fail',
    description: 'Fails every attempt (testing only).',
    input: v.strictObject({
      message: v.optional(v.string(), 'boom'),
      unrecoverable: v.optional(v.boolean()),
    }),
    attempts: 3,
    backoff: { type: 'fixed', delayMs: 10 },
  }),
  /** Fails its first `failures` attempts, then completes with the attempt number. */
  'test.flaky': defineJob({
    name: 'test.flaky',
    description: 'Fails the first `failures` attempts, then completes (testing only).',
    input: v.strictObject({ failures: v.pipe(v.number(), v.integer(), v.minValue(0)) }),
    attempts: 3,
    backoff: { type: 'fixed', delayMs: 10 },
  }),
  /** Never settles and ignores its AbortSignal: only the timeout can end it. */
  'test.hang': defineJob({
    name: 'test.hang',
    description: 'Never completes and ignores cancellation (testing only).',
    input: v.nullish(v.unknown()),
    attempts: 1,
    timeoutMs: 200,
  }),
  /** Ignores its AbortSignal and completes after `ms`: a handler that does not honour cancellation. */
  'test.stubborn': defineJob({
    name: 'test.stubborn',
    description: 'Completes after ms, ignoring cancellation (testing only).',
    input: v.strictObject({ ms: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(60_000)) }),
    attempts: 1,
  }),
  /** Reports progress and appends a log line `steps` times, then completes. */
  'test.progress': defineJob({
    name: 'test.progress',
    description: 'Reports progress and log lines in steps (testing only).',
    input: v.strictObject({ steps: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(100)) }),
    attempts: 1,
  }),
  /** Completes at once, but its jobs expire 300 ms after they are due unless a submit says otherwise. */
  'test.perishable': defineJob({
    name: 'test.perishable',
    description: 'Completes at once; jobs expire 300 ms after they are due by default (testing only).',
    input: v.nullish(v.unknown()),
    attempts: 1,
    ttlMs: 300,
  }),
} as const;
