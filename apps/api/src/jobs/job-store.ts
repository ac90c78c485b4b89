import { type Database, type JobRow, jobs } from '@conveyor/core/db';
import { ConveyorError } from '@conveyor/core/errors';
import { type JobEnvelope, type JobView, queueJobId } from '@conveyor/core/jobs';
import type { Job, JobState } from 'bullmq';
import { and, eq, sql } from 'drizzle-orm';
import type { QueueSet } from '../queues.js';
import { viewFromQueue, viewFromRow } from './job-view.js';
import { orUnavailable } from './unavailable.js';

/** Where a job is: its BullMQ job (in flight, or briefly after it ended) and its Postgres row. */
export interface JobLocation {
  job?: Job<JobEnvelope>;
  state?: JobState | 'unknown';
  row?: JobRow;
  /** True when the row is the job's current record (it is at least as new as the BullMQ job). */
  finished: boolean;
}

/** Reads jobs where they live: in flight in BullMQ, finished in Postgres. */
export interface JobStore {
  locate(tenant: string, id: string): Promise<JobLocation>;
  /** The job's current view, or undefined when neither Redis nor Postgres has it. */
  find(tenant: string, id: string): Promise<JobView | undefined>;
  /** The job's current view; JOB_NOT_FOUND when neither Redis nor Postgres has it. */
  get(tenant: string, id: string): Promise<JobView>;
  /** The view of a located job. */
  view(location: JobLocation): Promise<JobView | undefined>;
}

export function createJobStore({ queues, database }: { queues: QueueSet; database: Database }): JobStore {
  async function findInQueues(tenant: string, id: string): Promise<Job<JobEnvelope> | undefined> {
    queues.assertConnected();
    // BullMQ ids are the tenant's (queueJobId) and unique across queues; with auto-pipelining
    // these lookups share one round trip. Every partition is read, not only the one the id
    // hashes to: a job enqueued before QUEUE_PARTITIONS changed is where it was put. A
    // retried job's old generation may linger in another: the newest wins.
    const jobId = queueJobId(tenant, id);
    const found = await Promise.all(
      queues.all().map((q) => q.getJob(jobId) as Promise<Job<JobEnvelope> | undefined>),
    );
    let newest: Job<JobEnvelope> | undefined;
    for (const job of found) {
      if (job && (newest === undefined || (job.data.generation ?? 0) > (newest.data.generation ?? 0)))
        newest = job;
    }
    return newest;
  }

  // Prepared once: every GET and every submit with a client id reads a row, and building the
  // relational query each time (and an unnamed statement's extra round trip) dominated that path.
  const rowById = database.db.query.jobs
    .findFirst({ where: and(eq(jobs.id, sql.placeholder('id')), eq(jobs.tenant, sql.placeholder('tenant'))) })
    .prepare('conveyor_job_by_id');

  function readRow(tenant: string, id: string): Promise<JobRow | undefined> {
    return orUnavailable('Postgres', () => rowById.execute({ id, tenant }));
  }

  async function locate(tenant: string, id: string): Promise<JobLocation> {
    const [redis, row] = await Promise.all([
      findInQueues(tenant, id).then(
        (job) => ({ job, error: undefined }),
        (error: unknown) => ({ job: undefined, error }),
      ),
      readRow(tenant, id),
    ]);
    const job = redis.job?.data.tenant === tenant ? redis.job : undefined;
    // A terminal row is written before BullMQ finishes the job: it is the record, unless the
    // BullMQ job is a newer generation (the job was retried through the API).
    const finished = row !== undefined && (job === undefined || (job.data.generation ?? 0) <= row.generation);
    if (finished) return { row, job, finished };
    if (!job) {
      if (redis.error !== undefined) {
        throw redis.error instanceof ConveyorError
          ? redis.error
          : new ConveyorError('UNAVAILABLE', 'Redis is unavailable, try again shortly', {
              cause: redis.error,
              retryable: true,
            });
      }
      return { finished: false };
    }
    const state = await orUnavailable('Redis', () => job.getState());
    if (state === 'active' && !job.processedOn && job.id) {
      // It was taken between the two reads: read it again, so the view has its start.
      const taken = (await orUnavailable('Redis', () => queues.get(job.queueName).getJob(job.id ?? ''))) as
        | Job<JobEnvelope>
        | undefined;
      if (taken) return { job: taken, state, row, finished: false };
    }
    if (state === 'completed' || state === 'failed') {
      // It ended between the two reads above: its row was committed before BullMQ finished
      // it, so the row read now is the record (with its result, which BullMQ does not keep).
      const current = await readRow(tenant, id);
      if (current && current.generation >= (job.data.generation ?? 0))
        return { row: current, job, finished: true };
    }
    return { job, state, row, finished: false };
  }

  async function view(location: JobLocation): Promise<JobView | undefined> {
    if (location.finished && location.row) return viewFromRow(location.row);
    const { job, state } = location;
    if (!job?.id) return undefined;
    const jobId = job.id;
    const { logs } = await orUnavailable('Redis', () => queues.get(job.queueName).getJobLogs(jobId));
    return viewFromQueue(job, state ?? 'unknown', logs);
  }

  async function find(tenant: string, id: string) {
    return view(await locate(tenant, id));
  }

  return {
    locate,
    find,
    view,
    async get(tenant, id) {
      const found = await find(tenant, id);
      if (!found) throw new ConveyorError('JOB_NOT_FOUND', `no job with id ${id}`);
      return found;
    },
  };
}
