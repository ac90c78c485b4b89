import { type Database, jobs } from '@conveyor/core/db';
import { ConveyorError } from '@conveyor/core/errors';
import type { JobEnvelope, JobView } from '@conveyor/core/jobs';
import type { Job } from 'bullmq';
import { and, eq } from 'drizzle-orm';
import type { QueueSet } from '../queues.js';
import { viewFromQueue, viewFromRow } from './job-view.js';
import { orUnavailable } from './unavailable.js';

/** Reads jobs where they live: in flight in BullMQ, finished in Postgres. */
export interface JobStore {
  /** The job's current view, or undefined when neither Redis nor Postgres has it. */
  find(tenant: string, id: string): Promise<JobView | undefined>;
  /** The job's current view; JOB_NOT_FOUND when neither Redis nor Postgres has it. */
  get(tenant: string, id: string): Promise<JobView>;
}

export function createJobStore({ queues, database }: { queues: QueueSet; database: Database }): JobStore {
  async function getFinished(tenant: string, id: string) {
    const row = await orUnavailable('Postgres', () =>
      database.db.query.jobs.findFirst({ where: and(eq(jobs.id, id), eq(jobs.tenant, tenant)) }),
    );
    return row ? viewFromRow(row) : undefined;
  }

  async function findInQueues(id: string): Promise<Job<JobEnvelope> | undefined> {
    queues.assertConnected();
    // Ids are unique across queues; with auto-pipelining these lookups share one round trip.
    const found = await Promise.all(
      queues.all().map((q) => q.getJob(id) as Promise<Job<JobEnvelope> | undefined>),
    );
    return found.find((job) => job !== undefined);
  }

  async function find(tenant: string, id: string): Promise<JobView | undefined> {
    let inRedis: Job<JobEnvelope> | undefined;
    let redisError: unknown;
    try {
      inRedis = await findInQueues(id);
    } catch (error) {
      redisError = error; // Postgres may still answer for a finished job.
    }
    if (inRedis && inRedis.data.tenant === tenant) {
      const state = await orUnavailable('Redis', () => inRedis.getState());
      // A finished job's row is committed before BullMQ marks it finished: Postgres is the record.
      if (state !== 'completed' && state !== 'failed') return viewFromQueue(inRedis, state);
    }
    const finished = await getFinished(tenant, id);
    if (finished || redisError === undefined) return finished;
    throw redisError instanceof ConveyorError
      ? redisError
      : new ConveyorError('UNAVAILABLE', 'Redis is unavailable, try again shortly', {
          cause: redisError,
          retryable: true,
        });
  }

  return {
    find,
    async get(tenant, id) {
      const view = await find(tenant, id);
      if (!view) throw new ConveyorError('JOB_NOT_FOUND', `no job with id ${id}`);
      return view;
    },
  };
}
