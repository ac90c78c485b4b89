import { storableText } from './storable.js';

/**
 * The closed set of error codes Conveyor speaks, on the wire (problem+json `code`),
 * in recorded job errors and in logs. Add a code here and the API's status table
 * stops compiling until it says which HTTP status the new code maps to.
 */
export const errorCodes = [
  'VALIDATION_FAILED',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'RATE_LIMITED',
  'QUEUE_FULL',
  'MALFORMED_JSON',
  'UNSUPPORTED_MEDIA_TYPE',
  'PAYLOAD_TOO_LARGE',
  'UNKNOWN_JOB_TYPE',
  'JOB_NOT_FOUND',
  'SCHEDULE_NOT_FOUND',
  'WEBHOOK_NOT_FOUND',
  'DELIVERY_NOT_FOUND',
  'API_KEY_NOT_FOUND',
  'QUEUE_NOT_FOUND',
  'FLOW_NOT_FOUND',
  /** No such route or asset. */
  'NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'CONFLICT',
  'UNAVAILABLE',
  'TIMEOUT',
  'CANCELLED',
  'EXPIRED',
  'HANDLER_FAILED',
  /** A flow node that waited for a child whose failure fails it (`onFailure: fail`, the default). */
  'CHILD_FAILED',
  /** The job's type was served by none of the workers that took it, after every hand-back. */
  'JOB_TYPE_NOT_SERVED',
  /** The job's outcome held something Postgres cannot store; a safe form of it was stored instead. */
  'UNSTORABLE_RESULT',
  'TARGET_FORBIDDEN',
  'CONFIG_INVALID',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

/** One problem with one field of the input, as reported to clients. */
export interface FieldIssue {
  /** Dotted path into the input, e.g. `data.ms`; empty for the whole value. */
  path: string;
  message: string;
}

export interface ConveyorErrorOptions {
  /** Whether trying the same thing again may succeed. @defaultValue false */
  retryable?: boolean;
  /** The lower-level error this one wraps. */
  cause?: unknown;
  /** Per-field problems, for validation errors. */
  issues?: FieldIssue[];
  /** Extra machine-readable fields rendered into problem+json. */
  details?: Record<string, unknown>;
}

/**
 * The one error class of Conveyor: a stable `code`, a human message, and whether a retry
 * may help. The API renders it as problem+json; the worker records it on the job.
 *
 * @example
 * throw new ConveyorError('JOB_NOT_FOUND', `no job with id ${id}`);
 */
export class ConveyorError extends Error {
  override readonly name = 'ConveyorError';
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly issues: FieldIssue[];
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: ConveyorErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.issues = options.issues ?? [];
    this.details = options.details ?? {};
  }
}

/** True when `value` is a ConveyorError, optionally with the given code. */
export function isConveyorError(value: unknown, code?: ErrorCode): value is ConveyorError {
  return value instanceof ConveyorError && (code === undefined || value.code === code);
}

/** The serialisable shape of an error as stored on a job row and sent in events. */
export interface ErrorRecord {
  code: ErrorCode;
  message: string;
  retryable: boolean;
  /** The attempt (1-based) on which the error happened. */
  attempt?: number;
  at?: string;
}

/**
 * Turns anything thrown into an ErrorRecord, keeping ConveyorError codes. The message (a
 * handler's, often a remote server's words) is made storable: a NUL or lone surrogate in it
 * becomes U+FFFD rather than making the job's row unwritable.
 */
export function toErrorRecord(error: unknown, fallback: ErrorCode = 'HANDLER_FAILED'): ErrorRecord {
  if (error instanceof ConveyorError) {
    return { code: error.code, message: storableText(error.message), retryable: error.retryable };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: fallback, message: storableText(message), retryable: true };
}
