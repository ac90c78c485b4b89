/** The signal one attempt's handler receives, and how it ended. */
export interface AttemptSignal {
  signal: AbortSignal;
  /** True once the attempt's timeout fired. */
  readonly timedOut: boolean;
  /** Stops the timer and detaches from the long-lived signals; call when the attempt ends. */
  dispose(): void;
}

/**
 * One AbortSignal for an attempt that aborts on its timeout, on the worker's shutdown, or on
 * a cancellation. Built by hand rather than with AbortSignal.any and AbortSignal.timeout:
 * on Node 20, AbortSignal.any with a long-lived source (the shutdown signal) leaks a little
 * per call, which a worker running millions of jobs turns into steady growth, and a timeout
 * signal keeps its timer (and the job's closure) alive for the whole timeout after the job ended.
 *
 * @example
 * const attempt = attemptSignal({ timeoutMs: 30_000, shutdown, cancel });
 * try { await handler(input, { signal: attempt.signal }); } finally { attempt.dispose(); }
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
  const controller = new AbortController();
  let timedOut = false;
  const sources = [shutdown, ...(cancel ? [cancel] : [])];
  const onAbort = (event: Event) => controller.abort((event.target as AbortSignal).reason);
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new DOMException(`the attempt ran longer than ${timeoutMs} ms`, 'TimeoutError'));
  }, timeoutMs);
  timer.unref();
  const dispose = () => {
    clearTimeout(timer);
    for (const source of sources) source.removeEventListener('abort', onAbort);
  };
  for (const source of sources) {
    if (source.aborted) controller.abort(source.reason);
    else source.addEventListener('abort', onAbort, { once: true });
  }
  controller.signal.addEventListener('abort', dispose, { once: true });
  return {
    signal: controller.signal,
    get timedOut() {
      return timedOut;
    },
    dispose,
  };
}
