import { ConveyorError } from './conveyor-error.js';

/**
 * Races `promise` against a timer and rejects with a retryable TIMEOUT error naming `what`.
 * The timer never keeps the process alive.
 */
export async function withTimeout<T>(promise: PromiseLike<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new ConveyorError('TIMEOUT', `${what} did not answer within ${ms} ms`, { retryable: true })),
      ms,
    );
    timer.unref();
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
