import { assertStorable } from '@conveyor/core/errors';
import type { MiddlewareHandler } from 'hono';

/**
 * Answers 400 VALIDATION_FAILED, naming `query.<name>`, when a query parameter's name or
 * value holds a character Postgres cannot store (`%00`; percent-decoding never yields a lone
 * surrogate). Bodies are checked where they are read (readJsonBody); header values reach
 * Node as Latin-1 without NUL, and the stored ones (Idempotency-Key, X-Request-Id) are
 * checked to be plain ASCII.
 */
export function storableQuery(): MiddlewareHandler {
  return async (c, next) => {
    assertStorable(c.req.queries(), 'query');
    await next();
  };
}
