import { ConveyorError, type ErrorCode, type FieldIssue } from '@conveyor/core/errors';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** HTTP status of every error code; exhaustive, so a new code must be placed here to compile. */
export const statusByCode: Record<ErrorCode, ContentfulStatusCode> = {
  VALIDATION_FAILED: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  RATE_LIMITED: 429,
  QUEUE_FULL: 429,
  MALFORMED_JSON: 400,
  UNKNOWN_JOB_TYPE: 400,
  UNSUPPORTED_MEDIA_TYPE: 415,
  PAYLOAD_TOO_LARGE: 413,
  JOB_NOT_FOUND: 404,
  SCHEDULE_NOT_FOUND: 404,
  WEBHOOK_NOT_FOUND: 404,
  DELIVERY_NOT_FOUND: 404,
  API_KEY_NOT_FOUND: 404,
  QUEUE_NOT_FOUND: 404,
  FLOW_NOT_FOUND: 404,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  UNAVAILABLE: 503,
  TIMEOUT: 503,
  CANCELLED: 409,
  EXPIRED: 410,
  HANDLER_FAILED: 500,
  CHILD_FAILED: 500,
  JOB_TYPE_NOT_SERVED: 503,
  UNSTORABLE_RESULT: 500,
  TARGET_FORBIDDEN: 400,
  CONFIG_INVALID: 500,
  INTERNAL: 500,
};

/**
 * Seconds a client should wait before trying again, for the codes that ask it to: every 429
 * and 503 answer carries it as `Retry-After`. An error may name its own wait in
 * `details.retryAfter` (the rate limiter knows when its bucket refills).
 */
const retryAfterByCode: Partial<Record<ErrorCode, number>> = {
  RATE_LIMITED: 1,
  // Slots free as the tenant's jobs finish; no way to know when, so a short, steady wait.
  QUEUE_FULL: 1,
  UNAVAILABLE: 1,
  TIMEOUT: 1,
};

/** The `Retry-After` (seconds) of an error's answer; undefined for answers that carry none. */
export function retryAfterSeconds(error: unknown): number | undefined {
  if (!(error instanceof ConveyorError)) return undefined;
  const status = statusByCode[error.code];
  if (status !== 429 && status !== 503) return undefined;
  const own = error.details.retryAfter;
  if (typeof own === 'number' && Number.isFinite(own) && own >= 0) return Math.ceil(own);
  return retryAfterByCode[error.code] ?? 1;
}

const titleByStatus: Partial<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  429: 'Too Many Requests',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** An RFC 9457 problem document with Conveyor's stable `code`. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  instance?: string;
  requestId?: string;
  errors?: FieldIssue[];
  [extension: string]: unknown;
}

/**
 * Renders an error as a problem document. Errors that are not ConveyorErrors are internal:
 * their message is not shown, so no stack trace or SQL ever reaches a client.
 */
export function toProblem(error: unknown, context: { instance?: string; requestId?: string } = {}): Problem {
  const known = error instanceof ConveyorError ? error : new ConveyorError('INTERNAL', 'internal error');
  const status = statusByCode[known.code];
  const problem: Problem = {
    ...known.details,
    type: 'about:blank',
    title: titleByStatus[status] ?? 'Error',
    status,
    detail: known.message,
    code: known.code,
    ...context,
  };
  if (known.issues.length > 0) problem.errors = known.issues;
  return problem;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
