import { setTimeout as sleepFor } from 'node:timers/promises';
import { defineJob } from '@conveyor/sdk';
import * as v from 'valibot';

/** Does nothing; for benchmarks and smoke tests. */
export const noop = defineJob({
  name: 'noop',
  description: 'Does nothing and completes at once. Input is ignored.',
  input: v.nullish(v.unknown()),
  attempts: 1,
  run: async () => null,
});

/** Completes with its own input as the result. */
export const echo = defineJob({
  name: 'echo',
  description: 'Completes with its input as the result.',
  input: v.unknown(),
  attempts: 1,
  run: async (input) => input,
});

/** Waits, honouring cancellation and timeouts through its AbortSignal. */
export const sleep = defineJob({
  name: 'sleep',
  description: 'Waits `ms` milliseconds, then completes with how long it slept; stops early when cancelled.',
  input: v.strictObject({
    ms: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(3_600_000)),
  }),
  timeoutMs: 3_600_000 + 60_000,
  attempts: 1,
  // Rejects with the signal's reason as soon as the job is cancelled or times out.
  run: async ({ ms }, { signal }) => {
    const started = Date.now();
    await sleepFor(ms, undefined, { signal });
    return { sleptMs: Date.now() - started };
  },
});
