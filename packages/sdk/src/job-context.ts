/** The logger a job gets: any pino-like logger fits. */
export interface JobLogger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

/** How a flow node's child ended, as the parent's `ctx.children()` tells it. */
export interface ChildOutcome<Result = unknown> {
  /** The child's job id. */
  id: string;
  type: string;
  status: 'completed' | 'failed' | 'cancelled' | 'expired';
  /** The child's result when completed, else null. */
  result: Result | null;
  /** Why it did not complete; null when it did. */
  error: { code: string; message: string } | null;
}

/** What a job's `run` gets besides its input. */
export interface JobContext {
  /** The job's id (within its tenant). */
  jobId: string;
  type: string;
  /** 1-based number of this attempt. */
  attempt: number;
  maxAttempts: number;
  /** Aborts on timeout, cancellation or shutdown; long jobs must honour it. */
  signal: AbortSignal;
  /** Logger bound to the job's id, tenant, type and attempt. */
  log: JobLogger;
  /** Reports progress (0–100 or an object); shown on the job and sent as an event. */
  progress(value: number | Record<string, unknown>): Promise<void>;
  /** Appends a line to the job's log. */
  appendLog(line: string): Promise<void>;
  /**
   * In a flow (POST /v1/flows): how each job this one waited for ended, in the order they
   * were submitted. A child that failed with `onFailure: remove` is left out; with `ignore`
   * it is here with its error (with `fail`, the default, this job fails instead of running).
   * Outside a flow, and for a leaf, [].
   */
  children<Result = unknown>(): Promise<ChildOutcome<Result>[]>;
}
