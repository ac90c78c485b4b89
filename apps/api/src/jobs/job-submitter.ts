import { randomUUID } from 'node:crypto';
import { ConveyorError, type FieldIssue, isConveyorError, parseOrThrow } from '@conveyor/core/errors';
import {
  type BatchItemResult,
  type JobEnvelope,
  jobLinks,
  jobToEnqueue,
  type SubmitJobResponse,
  submitBatchBody,
  submitJobBody,
} from '@conveyor/core/jobs';
import type { AddressGuard } from '@conveyor/core/net';
import { createTenantInFlight, type InFlightEntry } from '@conveyor/core/redis';
import type { JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { optionBoundIssues, requireJobType } from '../job-types/job-type-checks.js';
import type { JobTypeRegistry, RegisteredJobType } from '../job-types/job-type-registry.js';
import type { QueueSet } from '../queues.js';
import { deliveryTargetIssue } from '../webhooks/delivery-target.js';
import { createIdempotencyClaims, jobIdForKey, requestHash } from './idempotency.js';
import type { JobStore } from './job-store.js';
import { delayOf, expiryOf } from './submit-timing.js';
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

/** Where a submit came from, recorded with the job for log correlation. */
export interface SubmitOrigin {
  /** The submitting request's id. */
  requestId?: string | undefined;
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
  redis: Redis;
  /** How long an id or Idempotency-Key is remembered. @defaultValue 24 h */
  idempotencyTtlSeconds?: number;
  /** Most queued plus running jobs per tenant; 0: no cap. @defaultValue 0 */
  tenantMaxInFlight?: number;
  /** The workers' outbound guard: a callbackUrl it always refuses is a 400. */
  guard: AddressGuard;
}

/** One validated submit, ready for BullMQ. */
export interface PreparedJob {
  definition: RegisteredJobType;
  id: string;
  /** Whether the client chose the id (directly or through an Idempotency-Key). */
  clientId: boolean;
  envelope: JobEnvelope;
  options: JobsOptions;
  response: SubmitJobResponse;
}

/** A prepared job's place in its tenant's in-flight set. */
function inFlightEntry(job: PreparedJob): InFlightEntry {
  return {
    queue: job.definition.queue,
    jobId: job.options.jobId ?? job.id,
    at: job.options.timestamp ?? Date.now(),
  };
}

/** Validates submits against the catalog and enqueues them into their type's BullMQ queue. */
export function createJobSubmitter(deps: JobSubmitterDeps): JobSubmitter {
  const { registry, queues, store, redis, idempotencyTtlSeconds = 24 * 3_600, tenantMaxInFlight = 0 } = deps;
  const { prefix } = queues;
  const inFlight = createTenantInFlight(redis, prefix);

  /** Adds the jobs to the tenant's in-flight set, or answers 429 QUEUE_FULL past the cap. */
  async function reserveSlots(tenant: string, jobs: PreparedJob[]): Promise<void> {
    if (jobs.length === 0) return;
    const ok = await orUnavailable('Redis', () =>
      inFlight.reserve(tenant, jobs.map(inFlightEntry), Math.max(0, tenantMaxInFlight)),
    );
    if (!ok) {
      throw new ConveyorError(
        'QUEUE_FULL',
        `tenant ${tenant} already has ${tenantMaxInFlight} queued or running jobs; wait for some to finish`,
        { retryable: true },
      );
    }
  }

  async function releaseSlots(tenant: string, jobs: PreparedJob[]): Promise<void> {
    await inFlight.release(tenant, jobs.map(inFlightEntry)).catch(() => {});
  }

  /**
   * Reads the registry again for a type it does not know yet (a worker may have just
   * registered it), before the bodies are checked synchronously.
   */
  async function lookUpTypes(bodies: readonly unknown[]): Promise<void> {
    const names = new Set<string>();
    for (const body of bodies) {
      const type = (body as { type?: unknown } | null)?.type;
      if (typeof type === 'string' && !registry.get(type)) names.add(type);
    }
    for (const name of names) {
      await orUnavailable('Postgres', () => registry.lookup(name));
    }
  }

  function prepare(
    tenant: string,
    raw: unknown,
    idempotencyKey?: string,
    origin: SubmitOrigin = {},
  ): PreparedJob {
    const body = parseOrThrow(submitJobBody, raw);
    const definition = requireJobType(registry, body.type);
    // Validated against the JSON Schema the type's workers registered; the worker that runs
    // the job parses it again with the type's own schema.
    const input = body.data;
    const now = Date.now();
    const issues: FieldIssue[] = registry.validate(definition, input);
    const target = deliveryTargetIssue(deps.guard, body.callbackUrl, 'callbackUrl');
    if (target) issues.push(target);
    issues.push(...optionBoundIssues(definition, body));
    const delay = delayOf(body, now, issues);
    const expiresAt = expiryOf(body, definition, now + delay, issues);
    let id = body.id ?? randomUUID();
    if (idempotencyKey !== undefined) {
      const keyed = jobIdForKey(tenant, idempotencyKey);
      if (body.id !== undefined && body.id !== keyed) {
        issues.push({
          path: 'id',
          message: 'leave id out when sending an Idempotency-Key: the key names the job',
        });
      }
      id = keyed;
    }
    if (issues.length > 0) {
      const summary = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
      throw new ConveyorError('VALIDATION_FAILED', `invalid input: ${summary}`, { issues });
    }

    const { envelope, options } = jobToEnqueue(definition, {
      tenant,
      id,
      input,
      metadata: body.metadata,
      timeoutMs: body.timeoutMs,
      attempts: body.attempts,
      priority: body.priority,
      delayMs: delay,
      at: now,
      expiresAt,
      idempotencyKey,
      requestId: origin.requestId,
      callbackUrl: body.callbackUrl,
    });
    return {
      definition,
      id,
      clientId: body.id !== undefined || idempotencyKey !== undefined,
      envelope,
      options,
      response: { id, type: definition.name, queue: definition.queue, status: 'queued', links: jobLinks(id) },
    };
  }

  const claim = createIdempotencyClaims({ redis, prefix, ttlSeconds: idempotencyTtlSeconds });

  async function enqueue(job: PreparedJob): Promise<void> {
    queues.assertConnected();
    await reserveSlots(job.envelope.tenant, [job]);
    try {
      await orUnavailable('Redis', () =>
        queues.get(job.definition.queue).add(job.definition.name, job.envelope, job.options),
      );
    } catch (error) {
      await releaseSlots(job.envelope.tenant, [job]);
      throw error;
    }
  }

  return {
    async submit(tenant, raw, idempotencyKey, origin) {
      await lookUpTypes([raw]);
      const job = prepare(tenant, raw, idempotencyKey, origin);
      if (job.clientId) {
        queues.assertConnected();
        const first = await claim(tenant, job.id, requestHash(raw));
        if (!first) {
          const existing = await store.find(tenant, job.id);
          if (existing) {
            const { id, type, queue, status, links } = existing;
            return { created: false, job: { id, type, queue, status, links } };
          }
          // The first request claimed the id but has not enqueued yet (or died before it
          // did): enqueueing again is safe, BullMQ keeps one job per (tenant-scoped) id.
          await enqueue(job);
          return { created: false, job: job.response };
        }
        // Claimed, yet a job with this id may exist from before the claim expired.
        const existing = await store.find(tenant, job.id);
        if (existing) {
          const { id, type, queue, status, links } = existing;
          return { created: false, job: { id, type, queue, status, links } };
        }
      }
      await enqueue(job);
      return { created: true, job: job.response };
    },

    async submitBatch(tenant, raw, origin) {
      const body = parseOrThrow(submitBatchBody, raw);
      await lookUpTypes(body.jobs);
      // Every item is validated before any is enqueued.
      const prepared: PreparedJob[] = [];
      const issues: FieldIssue[] = [];
      const invalidItems: { index: number; errors: FieldIssue[] }[] = [];
      const seen = new Map<string, number>();
      body.jobs.forEach((item, index) => {
        try {
          const job = prepare(tenant, item, undefined, origin);
          const earlier = seen.get(job.id);
          if (earlier !== undefined) {
            throw new ConveyorError('VALIDATION_FAILED', 'duplicate id', {
              issues: [{ path: 'id', message: `same id as jobs.${earlier}` }],
            });
          }
          seen.set(job.id, index);
          prepared.push(job);
        } catch (error) {
          if (!isConveyorError(error)) throw error;
          const errors = error.issues.length > 0 ? error.issues : [{ path: '', message: error.message }];
          invalidItems.push({ index, errors });
          for (const e of errors)
            issues.push({ path: `jobs.${index}${e.path ? `.${e.path}` : ''}`, message: e.message });
        }
      });
      if (invalidItems.length > 0) {
        throw new ConveyorError(
          'VALIDATION_FAILED',
          `invalid batch: ${invalidItems.length} of ${body.jobs.length} jobs are invalid; nothing was enqueued`,
          { issues, details: { invalidItems } },
        );
      }

      queues.assertConnected();
      const items: BatchItemResult[] = prepared.map((job, index) => ({
        index,
        id: job.id,
        type: job.definition.name,
        outcome: 'enqueued',
      }));
      // Client ids already known are reported, not enqueued again.
      const known = await Promise.all(
        prepared.map((job) => (job.clientId ? store.find(tenant, job.id) : undefined)),
      );
      const toAdd = new Map<string, number[]>();
      prepared.forEach((job, index) => {
        const existing = known[index];
        const item = items[index];
        if (!item) return;
        if (existing) {
          item.outcome = 'duplicate';
          item.status = existing.status;
          return;
        }
        item.status = 'queued';
        const group = toAdd.get(job.definition.queue) ?? [];
        group.push(index);
        toAdd.set(job.definition.queue, group);
      });

      await reserveSlots(
        tenant,
        [...toAdd.values()].flatMap((group) => group.map((i) => prepared[i] as PreparedJob)),
      );
      // One addBulk (one pipeline, one round trip) per queue. A pipeline is not a
      // transaction: when it fails, probe which jobs did land.
      let complete = true;
      await Promise.all(
        [...toAdd].map(async ([queueName, indexes]) => {
          const queue = queues.get(queueName);
          try {
            await queue.addBulk(
              indexes.map((i) => {
                const job = prepared[i] as PreparedJob;
                return { name: job.definition.name, data: job.envelope, opts: job.options };
              }),
            );
          } catch (error) {
            complete = false;
            const reason = error instanceof Error ? error.message : String(error);
            const landed = await Promise.all(
              indexes.map((i) => {
                const jobId = (prepared[i] as PreparedJob).options.jobId;
                return redis.exists(queues.get(queueName).toKey(jobId ?? '')).catch(() => -1);
              }),
            ).catch(() => indexes.map(() => -1));
            indexes.forEach((i, n) => {
              const item = items[i];
              if (!item) return;
              const exists = landed[n];
              if (exists === 1) return;
              item.outcome = exists === 0 ? 'failed' : 'unknown';
              item.error = reason;
              delete item.status;
            });
          }
        }),
      );
      await releaseSlots(
        tenant,
        prepared.filter((_, i) => items[i]?.outcome === 'failed'),
      );
      return { complete, items };
    },
  };
}
