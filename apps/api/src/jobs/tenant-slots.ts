import { ConveyorError } from '@conveyor/core/errors';
import type { RedisClient } from '@conveyor/core/redis';
import { createTenantInFlight, type InFlightEntry } from '@conveyor/core/redis';
import type { PreparedJob } from './prepare-submit.js';
import { orUnavailable } from './unavailable.js';

/** A tenant's share of `TENANT_MAX_IN_FLIGHT`: each job holds a slot from submit to its end. */
export interface TenantSlots {
  /** Adds the jobs to the tenant's in-flight set, or throws 429 QUEUE_FULL past the cap. */
  reserve(tenant: string, jobs: readonly PreparedJob[]): Promise<void>;
  /** Gives back the slots of jobs that were not enqueued after all. */
  release(tenant: string, jobs: readonly PreparedJob[]): Promise<void>;
}

/** A prepared job's place in its tenant's in-flight set. */
function inFlightEntry(job: PreparedJob): InFlightEntry {
  return {
    queue: job.queue,
    jobId: job.options.jobId ?? job.id,
    at: job.options.timestamp ?? Date.now(),
  };
}

/** Slots in the tenant in-flight set on `redis`; a cap of 0 counts jobs without refusing any. */
export function createTenantSlots(redis: RedisClient, prefix: string, maxInFlight: number): TenantSlots {
  const inFlight = createTenantInFlight(redis, prefix);
  const cap = Math.max(0, maxInFlight);
  return {
    async reserve(tenant, jobs) {
      if (jobs.length === 0) return;
      const ok = await orUnavailable('Redis', () => inFlight.reserve(tenant, jobs.map(inFlightEntry), cap));
      if (!ok) {
        throw new ConveyorError(
          'QUEUE_FULL',
          `tenant ${tenant} already has ${cap} queued or running jobs; wait for some to finish`,
          { retryable: true },
        );
      }
    },
    async release(tenant, jobs) {
      if (jobs.length === 0) return;
      await inFlight.release(tenant, jobs.map(inFlightEntry)).catch(() => {});
    },
  };
}
