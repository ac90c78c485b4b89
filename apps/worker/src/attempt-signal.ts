/** The signal one attempt's handler receives, the race its handler runs in, and how it ended. */
export interface AttemptSignal {
  /** Made when first read: a handler that never looks at it costs no AbortController. */
  readonly signal: AbortSignal;
  /** True once the attempt's timeout fired. */
  readonly timedOut: boolean;
  /** Settles with `promise`, or rejects with the abort's reason as soon as the attempt aborts. */
  race<T>(promise: Promise<T>): Promise<T>;
  /** Stops the timer and detaches from the long-lived signals; call when the attempt ends. */
  dispose(): void;
}

/**
 * One attempt's abort: on its timeout, on the worker's shutdown, or on a cancellation. Built
 * by hand rather than with AbortSignal.any and AbortSignal.timeout: on Node 20,
 * AbortSignal.any with a long-lived source (the shutdown signal) leaks a little per call,
 * which a worker running millions of jobs turns into steady growth, and a timeout signal keeps
 * its timer (and the job's closure) alive for the whole timeout after the job ended. The
 * handler's AbortSignal is made only when the handler reads it (most short jobs never do).
 *
 * @example
 * const attempt = attemptSignal({ timeoutMs: 30_000, shutdown, cancel });
 * try { await attempt.race(handler(input, { get signal() { return attempt.signal; } })); } finally { attempt.dispose(); }
 */
export function attemptSignal({
  timeoutMs,
  shutdown,
  cancel,
}: {
  timeoutMs: number;
  shutdown: AbortSignal;
  cancel?: AbortSignal | undefined;
}): AttemptSignal {
  let controller: AbortController | undefined;
  let aborted = false;
  let reason: unknown;
  let timedOut = false;
  let rejectRace: ((reason: unknown) => void) | undefined;
  const abort = (why: unknown) => {
    if (aborted) return;
    aborted = true;
    reason = why;
    dispose();
    controller?.abort(why);
    rejectRace?.(why);
  };
  const onAbort = (event: Event) => abort((event.target as AbortSignal).reason);
  const timer = setTimeout(() => {
    timedOut = true;
    abort(new DOMException(`the attempt ran longer than ${timeoutMs} ms`, 'TimeoutError'));
  }, timeoutMs);
  timer.unref();
  function dispose() {
    clearTimeout(timer);
    shutdown.removeEventListener('abort', onAbort);
    cancel?.removeEventListener('abort', onAbort);
  }
  const watch = (source: AbortSignal) => {
    if (source.aborted) abort(source.reason);
    else if (!aborted) source.addEventListener('abort', onAbort, { once: true });
  };
  watch(shutdown);
  if (cancel) watch(cancel);
  return {
    get signal() {
      if (!controller) {
        controller = new AbortController();
        if (aborted) controller.abort(reason);
      }
      return controller.signal;
    },
    get timedOut() {
      return timedOut;
    },
    race(promise) {
      if (aborted) return Promise.reject(reason);
      return new Promise((resolve, reject) => {
        rejectRace = reject;
        promise.then(resolve, reject);
      });
    },
    dispose,
  };
}
