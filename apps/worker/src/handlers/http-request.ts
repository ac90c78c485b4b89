import { ConveyorError } from '@conveyor/core/errors';
import type { JobInput } from '@conveyor/core/jobs';
import type { AddressGuard } from '../net/address-guard.js';
import { guardedRequest } from '../net/guarded-request.js';
import type { Handler } from './handler.js';

/** Most body bytes kept in the recorded response. */
export const MAX_RECORDED_BODY_BYTES = 64 * 1024;

/**
 * Sends the request, following up to 5 redirects; private and reserved addresses are
 * refused unless allow-listed (HTTP_ALLOWLIST), on every hop. Responses below 500 (other
 * than 429) complete the job with the recorded response; network errors, 429 and 5xx fail
 * the attempt so it is retried.
 */
export function createHttpRequestHandler(guard: AddressGuard): Handler<JobInput<'http.request'>> {
  return async (input, { signal }) => {
    const headers: Record<string, string> = { ...input.headers };
    let body: string | undefined;
    if (typeof input.body === 'string') body = input.body;
    else if (input.body !== undefined) {
      body = JSON.stringify(input.body);
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
        headers['content-type'] = 'application/json';
      }
    }
    const response = await guardedRequest(guard, {
      method: input.method,
      url: input.url,
      headers,
      ...(body === undefined ? {} : { body }),
      signal,
      maxBodyBytes: MAX_RECORDED_BODY_BYTES,
    });
    if (response.status >= 500 || response.status === 429) {
      throw new ConveyorError(
        'HANDLER_FAILED',
        `${input.method} ${response.url} answered ${response.status}`,
        {
          retryable: true,
          details: { status: response.status },
        },
      );
    }
    return response;
  };
}
