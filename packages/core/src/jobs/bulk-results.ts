/** What one POST /v1/jobs/retry did. */
export interface BulkRetryResult {
  /** A dry run: how many jobs match; otherwise how many this request went through. */
  matched: number;
  retried: number;
  /** Matching jobs not retried, each with why (a flow node, a type no longer registered, …). */
  skipped: { id: string; reason: string }[];
  /** Send it back as `cursor` to retry the next ones; null once every match was gone through. */
  nextCursor: string | null;
  dryRun: boolean;
}

/** What one POST /v1/jobs/cancel did. */
export interface BulkCancelResult {
  /** A dry run: how many jobs match; otherwise how many this request went through. */
  matched: number;
  cancelled: number;
  /** True when more may match: send the same request again. */
  more: boolean;
  dryRun: boolean;
}
