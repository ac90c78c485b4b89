import { ConveyorError } from '@conveyor/core/errors';
import type { MiddlewareHandler } from 'hono';

/**
 * Answers 503 TIMEOUT when a request takes longer than `ms`, so a slow dependency never
 * holds a client past a known bound.
 */
export function requestTimeout(ms: number): MiddlewareHandler {
  return async (_c, next) => {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new ConveyorError('TIMEOUT', `the request took longer than ${ms} ms`, { retryable: true })),
        ms,
      );
    });
    try {
      await Promise.race([next(), expired]);
    } finally {
      clearTimeout(timer);
    }
  };
}
