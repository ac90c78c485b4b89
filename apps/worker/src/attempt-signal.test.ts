import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { attemptSignal } from './attempt-signal.js';

describe('attemptSignal', () => {
  it('aborts with a TimeoutError when the timeout passes, and says so', async () => {
    const attempt = attemptSignal({ timeoutMs: 20, shutdown: new AbortController().signal });
    expect(attempt.signal.aborted).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(attempt.signal.aborted).toBe(true);
    expect(attempt.timedOut).toBe(true);
    expect((attempt.signal.reason as Error).name).toBe('TimeoutError');
  });

  it('aborts with the reason of a shutdown or a cancellation, without counting as a timeout', () => {
    const shutdown = new AbortController();
    const cancel = new AbortController();
    const a = attemptSignal({ timeoutMs: 10_000, shutdown: shutdown.signal, cancel: cancel.signal });
    const b = attemptSignal({ timeoutMs: 10_000, shutdown: shutdown.signal });
    cancel.abort(new Error('cancelled'));
    expect(a.signal.aborted).toBe(true);
    expect((a.signal.reason as Error).message).toBe('cancelled');
    expect(b.signal.aborted).toBe(false);
    shutdown.abort(new Error('shutting down'));
    expect((b.signal.reason as Error).message).toBe('shutting down');
    expect(a.timedOut || b.timedOut).toBe(false);
  });

  it('is aborted at once when the worker is already shutting down', () => {
    const shutdown = new AbortController();
    shutdown.abort(new Error('late'));
    expect(attemptSignal({ timeoutMs: 1_000, shutdown: shutdown.signal }).signal.aborted).toBe(true);
  });

  it('leaves nothing attached to the long-lived signals once disposed', () => {
    const shutdown = new AbortController().signal;
    for (let i = 0; i < 1_000; i++) {
      const cancel = new AbortController().signal;
      const attempt = attemptSignal({ timeoutMs: 60_000, shutdown, cancel });
      attempt.dispose();
      expect(getEventListeners(cancel, 'abort')).toHaveLength(0);
    }
    expect(getEventListeners(shutdown, 'abort')).toHaveLength(0);
  });

  it('rejects the race with the reason as soon as it aborts; a signal first read after that is aborted too', async () => {
    const cancel = new AbortController();
    const attempt = attemptSignal({
      timeoutMs: 10_000,
      shutdown: new AbortController().signal,
      cancel: cancel.signal,
    });
    const never = new Promise<never>(() => {});
    const raced = attempt.race(never);
    cancel.abort(new Error('cancelled'));
    await expect(raced).rejects.toThrow('cancelled');
    expect(attempt.signal.aborted).toBe(true);
    expect((attempt.signal.reason as Error).message).toBe('cancelled');
    expect(getEventListeners(cancel.signal, 'abort')).toHaveLength(0);
  });

  it('settles the race with the handler when nothing aborts', async () => {
    const attempt = attemptSignal({ timeoutMs: 10_000, shutdown: new AbortController().signal });
    await expect(attempt.race(Promise.resolve(42))).resolves.toBe(42);
    await expect(attempt.race(Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    attempt.dispose();
  });
});
