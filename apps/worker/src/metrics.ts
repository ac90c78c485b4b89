import { Counter, collectDefaultMetrics, Histogram, type Registry } from 'prom-client';

/** The worker's metrics, registered on an injected registry. */
export interface WorkerMetrics {
  registry: Registry;
  jobsFinished: Counter<'type' | 'status'>;
  jobDuration: Histogram<'type'>;
  /** Ticks of schedules: `submitted` a job, or `skipped` (paused, deleted, used up, stale). */
  scheduleTicks: Counter<'outcome'>;
  /** POSTs of callbacks and webhooks: `delivered`, `retrying` or `failed` (given up). */
  callbackAttempts: Counter<'outcome'>;
}

export function createWorkerMetrics(registry: Registry): WorkerMetrics {
  collectDefaultMetrics({ register: registry });
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
      help: 'Run time of the attempt that finished the job.',
      labelNames: ['type'],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    scheduleTicks: new Counter({
      name: 'conveyor_schedule_ticks_total',
      help: 'Schedule ticks handled: submitted a job, or skipped (paused, deleted, used up or stale).',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    callbackAttempts: new Counter({
      name: 'conveyor_callback_attempts_total',
      help: 'Callback and webhook POSTs: delivered, retrying (will try again) or failed (given up).',
      labelNames: ['outcome'],
      registers: [registry],
    }),
  };
}
