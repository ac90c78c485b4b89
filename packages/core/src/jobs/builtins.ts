import * as v from 'valibot';
import { defineJob } from './define-job.js';
import { plainRecord } from './plain-record.js';

/** Does nothing; for benchmarks and smoke tests. */
export const noop = defineJob({
  name: 'noop',
  description: 'Does nothing and completes at once. Input is ignored.',
  input: v.nullish(v.unknown()),
  attempts: 1,
});

/** Completes with its own input as the result. */
export const echo = defineJob({
  name: 'echo',
  description: 'Completes with its input as the result.',
  input: v.unknown(),
  attempts: 1,
});

/** Waits, honouring cancellation and timeouts through its AbortSignal. */
export const sleep = defineJob({
  name: 'sleep',
  description: 'Waits `ms` milliseconds, then completes with how long it slept; stops early when cancelled.',
  input: v.strictObject({
    ms: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(3_600_000)),
  }),
  timeoutMs: 3_600_000 + 60_000,
  attempts: 1,
});

const headerName = v.pipe(v.string(), v.regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'invalid header name'));

/** Outbound HTTP call (webhook delivery): network errors and 5xx are retried. */
export const httpRequest = defineJob({
  name: 'http.request',
  description:
    'Sends one HTTP request. Network errors and 5xx responses are retried; the status, headers and up to 64 KiB of the body are recorded.',
  input: v.strictObject({
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
  }),
  queue: 'http',
  timeoutMs: 30_000,
  attempts: 5,
  backoff: { type: 'exponential', delayMs: 1_000 },
});
