/** The logger a job gets: any pino-like logger fits. */
export interface JobLogger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
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
}
