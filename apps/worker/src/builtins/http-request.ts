import { ConveyorError } from '@conveyor/core/errors';
import { plainRecord } from '@conveyor/core/jobs';
import type { AddressGuard } from '@conveyor/core/net';
import { defineJob } from '@conveyor/sdk';
import * as v from 'valibot';
import { guardedRequest } from '../net/guarded-request.js';

/** Most body bytes kept in the recorded response. */
export const MAX_RECORDED_BODY_BYTES = 64 * 1024;

const headerName = v.pipe(v.string(), v.regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'invalid header name'));

/** What an http.request job sends. */
export const httpRequestInput = v.strictObject({
  method: v.optional(v.picklist(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']), 'GET'),
  url: v.pipe(
    v.string(),
    v.url(),
    // A pattern (not a custom check), so the JSON Schema the API validates with holds it too.
    v.regex(/^[Hh][Tt][Tt][Pp][Ss]?:\/\//, 'only http and https URLs are allowed'),
  ),
  headers: v.optional(plainRecord(headerName, v.pipe(v.string(), v.maxLength(8192)))),
  body: v.optional(
    v.union([v.pipe(v.string(), v.maxLength(1_000_000)), plainRecord(v.string(), v.unknown())]),
  ),
});

/**
 * The outbound HTTP call type: sends the request, following up to 5 redirects; private and
 * reserved addresses are refused unless `guard` allows them (HTTP_ALLOWLIST), on every hop.
 * Responses below 500 (other than 429) complete the job with the recorded response; network
 * errors, 429 and 5xx fail the attempt so it is retried.
 */
export function httpRequestJob(guard: AddressGuard) {
  return defineJob({
    name: 'http.request',
    description:
      'Sends one HTTP request. Network errors and 5xx responses are retried; the status, headers and up to 64 KiB of the body are recorded.',
    input: httpRequestInput,
    queue: 'http',
    timeoutMs: 30_000,
    attempts: 5,
    backoff: { type: 'exponential', delayMs: 1_000 },
    run: async (input, { signal }) => {
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
    },
  });
}
