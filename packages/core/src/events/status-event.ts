import type { ErrorRecord } from '../errors/index.js';
import { queueJobId } from '../jobs/job-key.js';
import type { JobStatus } from '../jobs/job-status.js';

/**
 * The one shape of every status event, on Redis pub/sub and on SSE/WebSocket streams.
 * A progress report is an `active` event with `progress`; a failed attempt that will be
 * retried is a `queued` event with `error`.
 */
export interface StatusEvent {
  /**
   * The event's id in its tenant's event log (`<ms>-<n>`, increasing within the tenant):
   * SSE sends it as `id:`, and Last-Event-ID or a WebSocket's `after` resumes after it. Set
   * by the publisher; absent on an event not yet published (a webhook's payload).
   */
  id?: string;
  jobId: string;
  tenant: string;
  type: string;
  queue: string;
  status: JobStatus;
  /** 1-based attempt the event belongs to. */
  attempt: number;
  progress?: unknown;
  error?: ErrorRecord;
  /** The handler's result, on `completed`. */
  result?: unknown;
  /** ISO time the event happened. */
  ts: string;
}

/** The pub/sub channels of one deployment (one BullMQ prefix). */
export interface EventChannels {
  /** Every event of one tenant's job (ids belong to their tenant). */
  job(tenant: string, jobId: string): string;
  /** The same channel named by the job's BullMQ id (`queueJobId(tenant, jobId)`), no hash to compute. */
  queueJob(queueJobId: string): string;
  /** Every event of one tenant (the firehose). */
  tenant(tenant: string): string;
}

export function eventChannels(prefix: string): EventChannels {
  return {
    job: (tenant, jobId) => `${prefix}:events:job:${queueJobId(tenant, jobId)}`,
    queueJob: (id) => `${prefix}:events:job:${id}`,
    // The tenant's event log's hash tag (eventLogKey): on a cluster one script appends to
    // the log and publishes here.
    tenant: (tenant) => `${prefix}:events:{${tenant}}`,
  };
}
