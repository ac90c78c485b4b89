import { collectProcessMetrics } from '@conveyor/core/metrics';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * The worker's metrics, registered on an injected registry. Labels are bounded (job type,
 * queue, terminal status): never job ids or tenants. Queue depth is not here: the API
 * exports it, once for the whole cluster (every worker exporting it would multiply sums).
 */
export interface WorkerMetrics {
  registry: Registry;
  /** Jobs that reached a terminal status (completed, failed, cancelled, expired). */
  jobsFinished: Counter<'type' | 'status'>;
  /** Handler run time of each attempt. */
  jobDuration: Histogram<'type'>;
  /** Enqueue (or the end of its delay) to the start of its first attempt. */
  jobWait: Histogram<'type'>;
  /** Failed attempts that will be tried again. */
  jobRetries: Counter<'type'>;
  /** Jobs handed back to their queue because this worker does not serve their type. */
  jobsHandedBack: Counter<'type'>;
  /** Attempts running now in this process. */
  jobsActive: Gauge<'type'>;
  /** Jobs this process runs at once per queue (its capacity). */
  concurrency: Gauge<'queue'>;
  /** Terminal rows per result INSERT. */
  resultBatchRows: Histogram;
  /** Time one result INSERT took to commit. */
  resultCommitDuration: Histogram;
  /** Result INSERTs that failed (each is retried until it commits). */
  resultCommitErrors: Counter;
  /** Ticks of schedules: `submitted` a job, or `skipped` (paused, deleted, used up, stale). */
  scheduleTicks: Counter<'outcome'>;
  /** Webhook POSTs (to a tenant's webhooks and to callbackUrls): `delivered`, `retrying` or `failed` (given up). */
  deliveryAttempts: Counter<'outcome'>;
}

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3_600];

/**
 * @example
 * const metrics = createWorkerMetrics(new Registry());
 * createConveyorWorker({ ...deps, metrics });
 */
export function createWorkerMetrics(registry: Registry): WorkerMetrics {
  collectProcessMetrics(registry);
  return {
    registry,
    jobsFinished: new Counter({
      name: 'conveyor_jobs_finished_total',
      help: 'Jobs that reached a terminal status, by type and status.',
      labelNames: ['type', 'status'],
      registers: [registry],
    }),
    jobDuration: new Histogram({
      name: 'conveyor_job_duration_seconds',
      help: 'Handler run time of each attempt, by type.',
      labelNames: ['type'],
      buckets: SECONDS,
      registers: [registry],
    }),
    jobWait: new Histogram({
      name: 'conveyor_job_wait_seconds',
      help: 'Queue wait of each job: from enqueue (or the end of its delay) to the start of its first attempt, by type.',
      labelNames: ['type'],
      buckets: SECONDS,
      registers: [registry],
    }),
    jobRetries: new Counter({
      name: 'conveyor_job_retries_total',
      help: 'Failed attempts that will be retried, by type.',
      labelNames: ['type'],
      registers: [registry],
    }),
    jobsHandedBack: new Counter({
      name: 'conveyor_jobs_handed_back_total',
      help: 'Jobs handed back to their queue because this worker does not serve their type, by type.',
      labelNames: ['type'],
      registers: [registry],
    }),
    jobsActive: new Gauge({
      name: 'conveyor_jobs_active',
      help: 'Attempts running now in this worker process, by type.',
      labelNames: ['type'],
      registers: [registry],
    }),
    concurrency: new Gauge({
      name: 'conveyor_worker_concurrency',
      help: 'Jobs this worker process runs at once, per queue it serves.',
      labelNames: ['queue'],
      registers: [registry],
    }),
    resultBatchRows: new Histogram({
      name: 'conveyor_result_batch_rows',
      help: 'Terminal rows written per result INSERT.',
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000],
      registers: [registry],
    }),
    resultCommitDuration: new Histogram({
      name: 'conveyor_result_commit_duration_seconds',
      help: 'Time one result INSERT took to commit to Postgres.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    resultCommitErrors: new Counter({
      name: 'conveyor_result_commit_errors_total',
      help: 'Result INSERTs that failed; their rows are written again until they commit.',
      registers: [registry],
    }),
    scheduleTicks: new Counter({
      name: 'conveyor_schedule_ticks_total',
      help: 'Schedule ticks handled: submitted a job, or skipped (paused, deleted, used up or stale).',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    deliveryAttempts: new Counter({
      name: 'conveyor_callback_attempts_total',
      help: 'Webhook POSTs (webhooks and callbackUrls): delivered, retrying (will try again) or failed (given up).',
      labelNames: ['outcome'],
      registers: [registry],
    }),
  };
}
