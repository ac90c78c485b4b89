import { randomUUID } from 'node:crypto';
import { ConveyorError, type FieldIssue, parseOrThrow } from '@conveyor/core/errors';
import {
  type JobDefinition,
  type JobEnvelope,
  type JobRegistry,
  jobLinks,
  type SubmitJobResponse,
  submitJobBody,
} from '@conveyor/core/jobs';
import type { JobsOptions } from 'bullmq';
import type { QueueSet } from '../queues.js';
import type { JobStore } from './job-store.js';
import { orUnavailable } from './unavailable.js';

/** How long finished jobs stay in Redis; Postgres holds them for good. */
const REMOVE_ON_COMPLETE = { age: 3_600, count: 1_000 } as const;
const REMOVE_ON_FAIL = { age: 24 * 3_600, count: 1_000 } as const;

export interface SubmitResult {
  /** 202 for a new job, 200 when the id was already submitted. */
  created: boolean;
  job: SubmitJobResponse;
}

export interface JobSubmitter {
  submit(tenant: string, body: unknown): Promise<SubmitResult>;
}

export interface JobSubmitterDeps {
  registry: JobRegistry;
  queues: QueueSet;
  store: JobStore;
}

/** Validates a submit against the catalog and enqueues it into its type's BullMQ queue. */
export function createJobSubmitter({ registry, queues, store }: JobSubmitterDeps): JobSubmitter {
  function resolveType(type: string): JobDefinition {
    const definition = registry.get(type);
    if (definition) return definition;
    const known = registry.names();
    throw new ConveyorError(
      'UNKNOWN_JOB_TYPE',
      `unknown job type "${type}"; known types: ${known.join(', ')}`,
      {
        details: { knownTypes: known },
      },
    );
  }

  return {
    async submit(tenant, rawBody) {
      const body = parseOrThrow(submitJobBody, rawBody);
      const definition = resolveType(body.type);
      const input = parseOrThrow(definition.input, body.data, 'data');
      const limits: FieldIssue[] = [];
      if (body.attempts !== undefined && body.attempts > definition.maxAttempts) {
        limits.push({
          path: 'attempts',
          message: `at most ${definition.maxAttempts} for ${definition.name}`,
        });
      }
      if (body.timeoutMs !== undefined && body.timeoutMs > definition.maxTimeoutMs) {
        limits.push({
          path: 'timeoutMs',
          message: `at most ${definition.maxTimeoutMs} for ${definition.name}`,
        });
      }
      if (limits.length > 0) {
        throw new ConveyorError('VALIDATION_FAILED', 'invalid input: limits of the job type exceeded', {
          issues: limits,
        });
      }

      const id = body.id ?? randomUUID();
      const response: SubmitJobResponse = {
        id,
        type: definition.name,
        queue: definition.queue,
        status: 'queued',
        links: jobLinks(id),
      };
      if (body.id !== undefined) {
        // The same id again returns the original job, in Redis or (after it finished) in Postgres.
        // Concurrent first submits of one id are still deduplicated by BullMQ's jobId.
        const existing = await store.find(tenant, id);
        if (existing)
          return {
            created: false,
            job: { ...response, type: existing.type, queue: existing.queue, status: existing.status },
          };
      }

      const now = Date.now();
      const envelope: JobEnvelope = {
        v: 1,
        tenant,
        input: input ?? null,
        metadata: body.metadata ?? null,
        timeoutMs: body.timeoutMs ?? definition.timeoutMs,
        submittedAt: new Date(now).toISOString(),
      };
      const { backoff } = definition;
      const options: JobsOptions = {
        jobId: id,
        timestamp: now,
        attempts: body.attempts ?? definition.attempts,
        backoff: {
          type: backoff.type,
          delay: backoff.delayMs,
          jitter: backoff.jitter ?? (backoff.type === 'exponential' ? 0.25 : 0),
        },
        removeOnComplete: REMOVE_ON_COMPLETE,
        removeOnFail: REMOVE_ON_FAIL,
      };
      if (body.priority !== undefined) options.priority = body.priority;
      if (body.delayMs !== undefined && body.delayMs > 0) options.delay = body.delayMs;

      queues.assertConnected();
      const job = await orUnavailable('Redis', () =>
        queues.get(definition.queue).add(definition.name, envelope, options),
      );
      // BullMQ returns the existing job, untouched, when the id is still in Redis.
      const created = job.timestamp === now && job.data.submittedAt === envelope.submittedAt;
      return { created, job: response };
    },
  };
}
