import type { JobsOptions } from 'bullmq';
import type { JobTypeOptions } from './define-job.js';
import { queueJobId } from './job-key.js';

/** How long finished jobs stay in Redis (Postgres holds their history), for every queue. */
export const REMOVE_ON_COMPLETE = { age: 3_600, count: 1_000 } as const;
export const REMOVE_ON_FAIL = { age: 24 * 3_600, count: 1_000 } as const;
/** Log lines kept per job. */
const KEEP_LOGS = 200;

/**
 * The BullMQ options of `tenant`'s job `id` of `definition`, with the submit's own choices on
 * top. Its BullMQ id is scoped to the tenant (queueJobId).
 */
export function jobOptions(
  definition: Pick<JobTypeOptions, 'attempts' | 'backoff'>,
  job: {
    tenant: string;
    id: string;
    timestamp: number;
    attempts?: number;
    priority?: number | null;
    delay?: number;
  },
): JobsOptions {
  const { backoff } = definition;
  const options: JobsOptions = {
    jobId: queueJobId(job.tenant, job.id),
    timestamp: job.timestamp,
    attempts: job.attempts ?? definition.attempts,
    backoff: {
      type: backoff.type,
      delay: backoff.delayMs,
      jitter: backoff.jitter ?? (backoff.type === 'exponential' ? 0.25 : 0),
    },
    keepLogs: KEEP_LOGS,
    removeOnComplete: REMOVE_ON_COMPLETE,
    removeOnFail: REMOVE_ON_FAIL,
  };
  if (job.priority) options.priority = job.priority;
  if (job.delay !== undefined && job.delay > 0) options.delay = job.delay;
  return options;
}
