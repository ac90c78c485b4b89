import { randomUUID } from 'node:crypto';
import { ConveyorError, type FieldIssue, isConveyorError, parseOrThrow } from '@conveyor/core/errors';
import {
  type FlowPlace,
  type JobEnvelope,
  jobLinks,
  jobToEnqueue,
  type SubmitJobResponse,
  submitJobBody,
} from '@conveyor/core/jobs';
import type { AddressGuard } from '@conveyor/core/net';
import type { JobsOptions } from 'bullmq';
import { optionBoundIssues, requireJobType } from '../job-types/job-type-checks.js';
import type { JobTypeRegistry, RegisteredJobType } from '../job-types/job-type-registry.js';
import type { QueueSet } from '../queues.js';
import { deliveryTargetIssue } from '../webhooks/delivery-target.js';
import { jobIdForKey } from './idempotency.js';
import { delayOf, expiryOf } from './submit-timing.js';
import { orUnavailable } from './unavailable.js';

/** Where a submit came from, recorded with the job for log correlation. */
export interface SubmitOrigin {
  /** The submitting request's id. */
  requestId?: string | undefined;
}

/** One validated submit, ready for BullMQ. */
export interface PreparedJob {
  definition: RegisteredJobType;
  id: string;
  /** The BullMQ queue it goes to: its type's queue, or the partition of it its id hashes to. */
  queue: string;
  /** Whether the client chose the id (directly or through an Idempotency-Key). */
  clientId: boolean;
  envelope: JobEnvelope;
  options: JobsOptions;
  response: SubmitJobResponse;
}

export interface SubmitPreparer {
  /**
   * Reads the registry again for the types it does not know yet (a worker may have just
   * registered one), so that `prepare` can check bodies synchronously.
   */
  lookUpTypes(bodies: readonly unknown[]): Promise<void>;
  /**
   * Validates one submit body whole (a 400 names every bad field) and builds its job; a
   * flow node's job carries its place in the flow.
   */
  prepare(
    tenant: string,
    raw: unknown,
    idempotencyKey?: string,
    origin?: SubmitOrigin,
    flow?: FlowPlace,
  ): PreparedJob;
  /**
   * Prepares every item of a batch before any is enqueued: one bad item (or two with one id)
   * rejects the batch with each bad item's fields as `jobs.<index>.<path>`.
   */
  prepareAll(tenant: string, items: readonly unknown[], origin?: SubmitOrigin): PreparedJob[];
}

export function createSubmitPreparer(deps: {
  registry: JobTypeRegistry;
  guard: AddressGuard;
  queues: Pick<QueueSet, 'forJob'>;
}): SubmitPreparer {
  const { registry, guard, queues } = deps;

  function prepare(
    tenant: string,
    raw: unknown,
    idempotencyKey?: string,
    origin: SubmitOrigin = {},
    flow?: FlowPlace,
  ): PreparedJob {
    const body = parseOrThrow(submitJobBody, raw);
    const definition = requireJobType(registry, body.type);
    // Validated against the JSON Schema the type's workers registered; the worker that runs
    // the job parses it again with the type's own schema.
    const input = body.data;
    const now = Date.now();
    const issues: FieldIssue[] = registry.validate(definition, input);
    const target = deliveryTargetIssue(guard, body.callbackUrl, 'callbackUrl');
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
      flow,
      tags: body.tags,
    });
    return {
      definition,
      id,
      queue: queues.forJob(definition.queue, options.jobId ?? id).name,
      clientId: body.id !== undefined || idempotencyKey !== undefined,
      envelope,
      options,
      response: { id, type: definition.name, queue: definition.queue, status: 'queued', links: jobLinks(id) },
    };
  }

  return {
    async lookUpTypes(bodies) {
      const names = new Set<string>();
      for (const body of bodies) {
        const type = (body as { type?: unknown } | null)?.type;
        if (typeof type === 'string' && !registry.get(type)) names.add(type);
      }
      for (const name of names) {
        await orUnavailable('Postgres', () => registry.lookup(name));
      }
    },
    prepare,
    prepareAll(tenant, items, origin) {
      const prepared: PreparedJob[] = [];
      const issues: FieldIssue[] = [];
      const invalidItems: { index: number; errors: FieldIssue[] }[] = [];
      const seen = new Map<string, number>();
      items.forEach((item, index) => {
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
          `invalid batch: ${invalidItems.length} of ${items.length} jobs are invalid; nothing was enqueued`,
          { issues, details: { invalidItems } },
        );
      }
      return prepared;
    },
  };
}
