import { parseOrThrow } from '@conveyor/core/errors';
import { type BatchItemResult, type SubmitJobResponse, submitBatchBody } from '@conveyor/core/jobs';
import type { AddressGuard } from '@conveyor/core/net';
import type { RedisClient } from '@conveyor/core/redis';
import type { JobTypeRegistry } from '../job-types/job-type-registry.js';
import type { QueueSet } from '../queues.js';
import { addInBulk, type BulkEntry } from './bulk-add.js';
import { createIdempotencyClaims, requestHash } from './idempotency.js';
import type { JobStore } from './job-store.js';
import { createSubmitPreparer, type PreparedJob, type SubmitOrigin } from './prepare-submit.js';
import { createTenantSlots } from './tenant-slots.js';
import { orUnavailable } from './unavailable.js';

export interface SubmitResult {
  /** 202 for a new job, 200 when the id or key was already submitted. */
  created: boolean;
  job: SubmitJobResponse;
}

export interface BatchResult {
  /** False when some item could not be enqueued (Redis failed): the response is a 503. */
  complete: boolean;
  items: BatchItemResult[];
}

export interface JobSubmitter {
  submit(
    tenant: string,
    body: unknown,
    idempotencyKey?: string,
    origin?: SubmitOrigin,
  ): Promise<SubmitResult>;
  submitBatch(tenant: string, body: unknown, origin?: SubmitOrigin): Promise<BatchResult>;
}

export interface JobSubmitterDeps {
  registry: JobTypeRegistry;
  queues: QueueSet;
  store: JobStore;
  /** The producer connection, for idempotency claims. */
  redis: RedisClient;
  /** How long an id or Idempotency-Key is remembered. @defaultValue 24 h */
  idempotencyTtlSeconds?: number;
  /** Most queued plus running jobs per tenant; 0: no cap. @defaultValue 0 */
  tenantMaxInFlight?: number;
  /** The workers' outbound guard: a callbackUrl it always refuses is a 400. */
  guard: AddressGuard;
}

/**
 * Submits as a sequence of steps: look up unknown types, prepare (validate and build the
 * job), claim a client-chosen id, reserve the tenant's slots, enqueue (one job, or one
 * `addBulk` per queue for a batch).
 */
export function createJobSubmitter(deps: JobSubmitterDeps): JobSubmitter {
  const { queues, store, redis, idempotencyTtlSeconds = 24 * 3_600, tenantMaxInFlight = 0 } = deps;
  const { prefix } = queues;
  const { lookUpTypes, prepare, prepareAll } = createSubmitPreparer(deps);
  const slots = createTenantSlots(redis, prefix, tenantMaxInFlight);
  const claim = createIdempotencyClaims({ redis, prefix, ttlSeconds: idempotencyTtlSeconds });

  async function enqueue(job: PreparedJob): Promise<void> {
    queues.assertConnected();
    await slots.reserve(job.envelope.tenant, [job]);
    try {
      await orUnavailable('Redis', () =>
        queues.get(job.queue).add(job.definition.name, job.envelope, job.options),
      );
    } catch (error) {
      await slots.release(job.envelope.tenant, [job]);
      throw error;
    }
  }

  /** The job a client-chosen id already names, as a submit's answer. */
  async function existingJob(tenant: string, id: string): Promise<SubmitResult | undefined> {
    const existing = await store.find(tenant, id);
    if (!existing) return undefined;
    const { type, queue, status, links } = existing;
    return { created: false, job: { id: existing.id, type, queue, status, links } };
  }

  return {
    async submit(tenant, raw, idempotencyKey, origin) {
      await lookUpTypes([raw]);
      const job = prepare(tenant, raw, idempotencyKey, origin);
      if (job.clientId) {
        queues.assertConnected();
        const first = await claim(tenant, job.id, requestHash(raw));
        // Claimed or not, a job with this id may exist (from before the claim expired).
        const existing = await existingJob(tenant, job.id);
        if (existing) return existing;
        if (!first) {
          // The first request claimed the id but has not enqueued yet (or died before it
          // did): enqueueing again is safe, BullMQ keeps one job per (tenant-scoped) id.
          await enqueue(job);
          return { created: false, job: job.response };
        }
      }
      await enqueue(job);
      return { created: true, job: job.response };
    },

    async submitBatch(tenant, raw, origin) {
      const body = parseOrThrow(submitBatchBody, raw);
      await lookUpTypes(body.jobs);
      const prepared = prepareAll(tenant, body.jobs, origin);
      queues.assertConnected();
      // Client ids already known are reported, not enqueued again.
      const known = await Promise.all(
        prepared.map((job) => (job.clientId ? store.find(tenant, job.id) : undefined)),
      );
      const items: BatchItemResult[] = [];
      const fresh: BulkEntry[] = [];
      prepared.forEach((job, index) => {
        const existing = known[index];
        const item: BatchItemResult = { index, id: job.id, type: job.definition.name, outcome: 'enqueued' };
        items.push(item);
        if (existing) {
          item.outcome = 'duplicate';
          item.status = existing.status;
        } else {
          item.status = 'queued';
          fresh.push({ job, item });
        }
      });
      await slots.reserve(
        tenant,
        fresh.map((e) => e.job),
      );
      const complete = await addInBulk(queues, redis, fresh);
      await slots.release(
        tenant,
        fresh.filter((e) => e.item.outcome === 'failed').map((e) => e.job),
      );
      return { complete, items };
    },
  };
}
