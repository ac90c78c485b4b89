import { ConveyorError } from '@conveyor/core/errors';
import type { MiddlewareHandler } from 'hono';
import { bodyLimit as streamedBodyLimit } from 'hono/body-limit';

/**
 * Answers 413 PAYLOAD_TOO_LARGE for a body over `maxBytes`. A body with a Content-Length is
 * judged by the header alone (Node's parser never delivers more than it announces), which
 * leaves the request untouched so @hono/node-server can read it straight from the socket
 * later; only a chunked body is counted as it streams, by Hono's own bodyLimit.
 */
export function bodyLimit(maxBytes: number): MiddlewareHandler {
  const tooLarge = () => {
    throw new ConveyorError('PAYLOAD_TOO_LARGE', `the body is larger than ${maxBytes} bytes`);
  };
  const streamed = streamedBodyLimit({ maxSize: maxBytes, onError: tooLarge });
  return async (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    const length = c.req.header('content-length');
    if (length === undefined || c.req.header('transfer-encoding') !== undefined) return streamed(c, next);
    if (Number(length) > maxBytes) tooLarge();
    return next();
  };
}
