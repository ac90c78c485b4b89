import { ConveyorError } from '@conveyor/core/errors';
import type { JobInput } from '@conveyor/core/jobs';
import type { Handler } from './handler.js';

/** Most body bytes kept in the recorded response. */
export const MAX_RECORDED_BODY_BYTES = 64 * 1024;

async function readCapped(response: Response, limit: number): Promise<{ body: string; truncated: boolean }> {
  if (!response.body) return { body: '', truncated: false };
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const room = limit - size;
    if (value.byteLength >= room) {
      chunks.push(value.subarray(0, room));
      size = limit;
      truncated = true;
      await reader.cancel();
      break;
    }
    chunks.push(value);
    size += value.byteLength;
  }
  return { body: Buffer.concat(chunks, size).toString('utf8'), truncated };
}

/**
 * Sends the request. Responses below 500 (other than 429) complete the job with the
 * recorded response; network errors, 429 and 5xx fail the attempt so it is retried.
 * Redirects are not followed: a 3xx is recorded as it came.
 */
export const httpRequest: Handler<JobInput<'http.request'>> = async (input, { signal }) => {
  const headers = new Headers(input.headers);
  let body: string | undefined;
  if (typeof input.body === 'string') body = input.body;
  else if (input.body !== undefined) {
    body = JSON.stringify(input.body);
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
  }
  let response: Response;
  try {
    response = await fetch(input.url, { method: input.method, headers, body, signal, redirect: 'manual' });
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    const cause =
      error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
    throw new ConveyorError('HANDLER_FAILED', `${input.method} ${input.url} failed: ${cause}`, {
      retryable: true,
      cause: error,
    });
  }
  const { body: text, truncated } = await readCapped(response, MAX_RECORDED_BODY_BYTES);
  if (response.status >= 500 || response.status === 429) {
    throw new ConveyorError('HANDLER_FAILED', `${input.method} ${input.url} answered ${response.status}`, {
      retryable: true,
      details: { status: response.status },
    });
  }
  return {
    status: response.status,
    headers: Object.fromEntries(response.headers),
    body: text,
    truncated,
  };
};
