import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { defineJob } from './define-job.js';
import { isNonRetryableError, NonRetryableError } from './non-retryable-error.js';

describe('defineJob', () => {
  it('fills in the documented defaults and keeps run', async () => {
    const job = defineJob({
      name: 'acme.echo',
      description: 'echoes',
      input: v.object({ text: v.string() }),
      run: async ({ text }) => text.toUpperCase(),
    });
    expect(job).toMatchObject({
      queue: 'default',
      timeoutMs: 30_000,
      maxTimeoutMs: 300_000,
      attempts: 3,
      maxAttempts: 25,
      backoff: { type: 'exponential', delayMs: 1_000 },
    });
    const ctx = {} as Parameters<NonNullable<typeof job.run>>[1];
    expect(await job.run?.({ text: 'hi' }, ctx)).toBe('HI');
  });

  it('refuses a bad name, a bad queue, a queue of Conveyor its own and a bad ttlMs, naming the type', () => {
    const input = v.null();
    expect(() => defineJob({ name: 'Bad Name', description: '', input })).toThrow(
      /bad job type name "Bad Name"/,
    );
    expect(() => defineJob({ name: 'a', description: '', input, queue: 'Q!' })).toThrow(
      /job type a: bad queue/,
    );
    expect(() => defineJob({ name: 'a', description: '', input, queue: 'schedules' })).toThrow(
      /Conveyor's own/,
    );
    expect(() => defineJob({ name: 'a', description: '', input, ttlMs: 0 })).toThrow(/ttlMs/);
  });

  it('keeps declared queue limits, and refuses 0, absurd values and unknown limits naming the field', () => {
    const input = v.null();
    const queueLimits = { rateLimit: { max: 100, durationMs: 60_000 }, concurrency: 4 };
    expect(defineJob({ name: 'a', description: '', input, queueLimits }).queueLimits).toEqual(queueLimits);
    for (const [bad, field] of [
      [{ concurrency: 0 }, 'concurrency'],
      [{ concurrency: 2.5 }, 'concurrency'],
      [{ rateLimit: { max: 5, durationMs: 10 } }, 'rateLimit.durationMs'],
      [{ rateLimit: { max: 0, durationMs: 1_000 } }, 'rateLimit.max'],
      [{ rateLimit: { max: 5_000_000, durationMs: 1_000 } }, 'rateLimit.max'],
      [{ burst: 3 }, 'burst'],
    ] as const) {
      expect(() => defineJob({ name: 'a', description: '', input, queueLimits: bad as never })).toThrow(
        new RegExp(`job type a: bad queueLimits: ${field.replace('.', '\\.')} `),
      );
    }
  });
});

describe('NonRetryableError', () => {
  it('is recognised by name, also when thrown by another copy of the package', () => {
    expect(isNonRetryableError(new NonRetryableError('gone'))).toBe(true);
    const fromOtherCopy = Object.assign(new Error('gone'), { name: 'NonRetryableError' });
    expect(isNonRetryableError(fromOtherCopy)).toBe(true);
    expect(isNonRetryableError(new Error('gone'))).toBe(false);
    expect(isNonRetryableError('NonRetryableError')).toBe(false);
  });
});
