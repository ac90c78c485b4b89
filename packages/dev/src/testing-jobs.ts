import { setTimeout as sleepFor } from 'node:timers/promises';
import { ConveyorError } from '@conveyor/core/errors';
import { defineJob, type JobDefinition } from '@conveyor/sdk';
import * as v from 'valibot';

/**
 * Job types that exist only to provoke failure paths in tests and drills. They are no part
 * of Conveyor: the harness and the test worker (test/fixtures/testing-worker.ts) pass them in, as a
 * team's worker passes its own.
 */

/** Fails every attempt with `message`; `unrecoverable` fails at once without retries. */
export const testFail = defineJob({
  name: 'test.fail',
  description: 'Fails every attempt (testing only).',
  input: v.strictObject({
    message: v.optional(v.string(), 'boom'),
    unrecoverable: v.optional(v.boolean()),
  }),
  attempts: 3,
  backoff: { type: 'fixed', delayMs: 10 },
  run: async ({ message, unrecoverable }) => {
    throw new ConveyorError('HANDLER_FAILED', message, { retryable: unrecoverable !== true });
  },
});

/** Fails its first `failures` attempts, then completes with the attempt number. */
export const testFlaky = defineJob({
  name: 'test.flaky',
  description: 'Fails the first `failures` attempts, then completes (testing only).',
  input: v.strictObject({ failures: v.pipe(v.number(), v.integer(), v.minValue(0)) }),
  attempts: 3,
  backoff: { type: 'fixed', delayMs: 10 },
  run: async ({ failures }, { attempt }) => {
    if (attempt <= failures) {
      throw new ConveyorError('HANDLER_FAILED', `planned failure ${attempt}`, { retryable: true });
    }
    return { attempt };
  },
});

/** Never settles and ignores its AbortSignal: only the timeout can end it. */
export const testHang = defineJob({
  name: 'test.hang',
  description: 'Never completes and ignores cancellation (testing only).',
  input: v.nullish(v.unknown()),
  attempts: 1,
  timeoutMs: 200,
  run: () => new Promise<never>(() => {}),
});

/** Ignores its AbortSignal and completes after `ms`: a handler that does not honour cancellation. */
export const testStubborn = defineJob({
  name: 'test.stubborn',
  description: 'Completes after ms, ignoring cancellation (testing only).',
  input: v.strictObject({ ms: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(60_000)) }),
  attempts: 1,
  run: async ({ ms }) => {
    await sleepFor(ms);
    return { done: true };
  },
});

/** Reports progress and appends a log line `steps` times, then completes. */
export const testProgress = defineJob({
  name: 'test.progress',
  description: 'Reports progress and log lines in steps (testing only).',
  input: v.strictObject({ steps: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(100)) }),
  attempts: 1,
  run: async ({ steps }, { progress, appendLog }) => {
    for (let step = 1; step <= steps; step++) {
      await progress(Math.round((step * 100) / steps));
      await appendLog(`step ${step} of ${steps}`);
      await sleepFor(10);
    }
    return { steps };
  },
});

/** Completes at once, but its jobs expire 300 ms after they are due unless a submit says otherwise. */
export const testPerishable = defineJob({
  name: 'test.perishable',
  description: 'Completes at once; jobs expire 300 ms after they are due by default (testing only).',
  input: v.nullish(v.unknown()),
  attempts: 1,
  ttlMs: 300,
  run: async () => ({ ran: true }),
});

/** Every testing type. */
export const testingJobs: readonly JobDefinition[] = [
  testFail,
  testFlaky,
  testHang,
  testStubborn,
  testProgress,
  testPerishable,
];
