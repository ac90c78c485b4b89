import type { Database, JobRow, NewJobRow } from '@conveyor/core/db';
import { terminalRow, upsertTerminalRows } from '@conveyor/core/db';
import { ConveyorError, toStorable } from '@conveyor/core/errors';
import { broadcastCancel, type EventPublisher, type StatusEvent } from '@conveyor/core/events';
import {
  announceOutcome,
  attemptCount,
  type FlowPlace,
  type JobEnvelope,
  type JobToEnqueue,
  type JobTypeOptions,
  type JobView,
  jobToEnqueue,
  NOT_STARTED_STATES,
} from '@conveyor/core/jobs';
import type { Logger } from '@conveyor/core/log';
import type { RedisClient } from '@conveyor/core/redis';
import { createTenantInFlight } from '@conveyor/core/redis';
import type { WebhookDispatcher } from '@conveyor/core/webhooks';
import type { Job } from 'bullmq';
import type { JobTypeRegistry } from '../job-types/job-type-registry.js';
import type { QueueSet } from '../queues.js';
import type { JobLocation, JobStore } from './job-store.js';
import { viewFromQueue } from './job-view.js';
import { orUnavailable } from './unavailable.js';

export interface JobControl {
  /** Cancels a queued, delayed or running job; 409 once it has finished. */
  cancel(tenant: string, id: string): Promise<JobView>;
  /** Runs a failed, cancelled or expired job again under the same id; 409 otherwise. */
  retry(tenant: string, id: string, origin?: { requestId?: string | undefined }): Promise<JobView>;
  /**
   * Cancels several jobs together (a flow's unfinished nodes, children before parents):
   * every row first, then each job removed if it has not started (its slot freed) or its
   * worker told, then each end announced. Jobs that have ended or are gone are left as they
   * are. Resolves to the ids it cancelled.
   */
  cancelAll(tenant: string, ids: readonly string[]): Promise<string[]>;
}

export interface JobControlDeps {
  registry: JobTypeRegistry;
  queues: QueueSet;
  store: JobStore;
  database: Database;
  /** The producer connection, for the cancel broadcast. */
  redis: RedisClient;
  publisher: EventPublisher;
  logger: Logger;
  /** Enqueues the cancelled job's webhook deliveries. */
  webhooks?: WebhookDispatcher | undefined;
}

/**
 * The next generation of a finished job, as a retry enqueues it: everything its submit chose
 * (its timeout, its attempts, its priority, its callback), run again now (a retry does not
 * expire, nor wait out the first delay); a flow node keeps its place in its flow.
 */
export function retryToEnqueue(
  definition: Pick<JobTypeOptions, 'attempts' | 'backoff' | 'timeoutMs'>,
  row: JobRow,
  origin: { requestId?: string | undefined },
  flow?: FlowPlace,
): JobToEnqueue {
  return jobToEnqueue(definition, {
    tenant: row.tenant,
    id: row.id,
    input: row.input,
    metadata: row.metadata,
    timeoutMs: row.timeoutMs,
    attempts: row.attemptLimit,
    priority: row.priority,
    at: Date.now(),
    createdAt: row.createdAt.getTime(),
    idempotencyKey: row.idempotencyKey,
    requestId: origin.requestId,
    callbackUrl: row.callbackUrl,
    scheduleId: row.scheduleId,
    tags: row.tags,
    flow,
    previous: { generation: row.generation, attempts: row.attempts, attemptErrors: row.attemptErrors },
  });
}

/** The status event of a job cancelled through the API. */
function cancelledEvent(tenant: string, id: string, view: JobView): StatusEvent {
  return {
    jobId: id,
    tenant,
    type: view.type,
    queue: view.queue,
    status: 'cancelled',
    attempt: view.attempts,
    ...(view.error ? { error: view.error } : {}),
    ts: new Date().toISOString(),
  };
}

function notFound(id: string): ConveyorError {
  return new ConveyorError('JOB_NOT_FOUND', `no job with id ${id}`);
}

export function createJobControl(deps: JobControlDeps): JobControl {
  const { registry, queues, store, database, redis, publisher, logger, webhooks } = deps;
  const inFlight = createTenantInFlight(redis, queues.prefix);

  async function currentView(tenant: string, id: string): Promise<JobView> {
    const view = await store.find(tenant, id);
    if (!view) throw notFound(id);
    return view;
  }

  function cancelledRow(location: Required<Pick<JobLocation, 'job'>>, id: string): NewJobRow {
    const { job } = location;
    const envelope: JobEnvelope = job.data;
    const count = attemptCount(job, envelope);
    const now = new Date();
    const row = terminalRow(job, envelope, {
      status: 'cancelled',
      result: null,
      error: {
        code: 'CANCELLED',
        message: 'cancelled through the API',
        retryable: false,
        at: now.toISOString(),
      },
      attemptErrors: envelope.attemptErrors ?? [],
      attempts: count.started,
      runs: count.runs,
      startedAt: job.processedOn ? new Date(job.processedOn) : null,
      finishedAt: now,
    });
    return {
      ...row,
      id,
      // Refused at the door since issue 14; a job enqueued before may still hold a NUL or a
      // lone surrogate, which would make Postgres refuse the row and the cancel with it.
      input: toStorable(row.input),
      metadata: toStorable(row.metadata) as JobRow['metadata'],
    };
  }

  return {
    async cancel(tenant, id) {
      const location = await store.locate(tenant, id);
      const { job, state } = location;
      if (location.finished && location.row) {
        throw new ConveyorError('CONFLICT', `job ${id} has already finished (${location.row.status})`);
      }
      if (!job) throw notFound(id);
      if (state === 'completed' || state === 'failed') {
        throw new ConveyorError('CONFLICT', `job ${id} has already finished`);
      }
      // The row first: if this process dies after it, the job is recorded cancelled and a
      // worker that still runs it cannot overwrite that (the first terminal row wins).
      await orUnavailable('Postgres', () => upsertTerminalRows(database.db, [cancelledRow({ job }, id)]));
      let removed = false;
      if (state !== undefined && NOT_STARTED_STATES.has(state)) {
        removed = await job.remove().then(
          () => true,
          () => false, // locked: a worker took it meanwhile; the broadcast reaches it
        );
      }
      if (removed) {
        // No worker will finish it: it leaves its tenant's in-flight set here.
        inFlight.release(tenant, [{ queue: job.queueName, jobId: job.id ?? '' }]).catch(() => {});
      } else {
        await orUnavailable('Redis', () => broadcastCancel(redis, queues.prefix, job.id ?? ''));
      }
      const view = await currentView(tenant, id);
      if (view.status !== 'cancelled') {
        throw new ConveyorError(
          'CONFLICT',
          `job ${id} finished (${view.status}) before it could be cancelled`,
        );
      }
      const event = cancelledEvent(tenant, id, view);
      // A job removed before it started has no worker to announce its end; for a running one
      // the worker announces it too, and each delivery is sent once.
      await announceOutcome({ publisher, webhooks, logger }, event, job.data);
      return view;
    },

    async cancelAll(tenant, ids) {
      const located = await Promise.all(
        ids.map(async (id) => ({ id, location: await store.locate(tenant, id) })),
      );
      const live = located.flatMap(({ id, location }) =>
        !location.finished && location.job ? [{ id, job: location.job, state: location.state }] : [],
      );
      if (live.length === 0) return [];
      await orUnavailable('Postgres', () =>
        upsertTerminalRows(
          database.db,
          live.map(({ id, job }) => cancelledRow({ job }, id)),
        ),
      );
      for (const { job, state } of live) {
        const removed =
          state !== undefined && NOT_STARTED_STATES.has(state)
            ? await job.remove({ removeChildren: false }).then(
                () => true,
                () => false,
              )
            : false;
        if (removed)
          inFlight.release(tenant, [{ queue: job.queueName, jobId: job.id ?? '' }]).catch(() => {});
        else await orUnavailable('Redis', () => broadcastCancel(redis, queues.prefix, job.id ?? ''));
      }
      const cancelled: string[] = [];
      for (const { id, job } of live) {
        const view = await store.find(tenant, id);
        if (view?.status !== 'cancelled') continue;
        cancelled.push(id);
        const event = cancelledEvent(tenant, id, view);
        await announceOutcome({ publisher, webhooks, logger }, event, job.data);
      }
      return cancelled;
    },

    async retry(tenant, id, origin = {}) {
      const location = await store.locate(tenant, id);
      const row: JobRow | undefined = location.finished ? location.row : undefined;
      if (!row) {
        if (!location.job) throw notFound(id);
        throw new ConveyorError(
          'CONFLICT',
          `job ${id} is still in flight; only failed, cancelled or expired jobs can be retried`,
        );
      }
      if (row.status === 'completed') {
        throw new ConveyorError(
          'CONFLICT',
          `job ${id} completed; only failed, cancelled or expired jobs can be retried`,
        );
      }
      if (row.flowId !== null) {
        // Alone it would run outside its flow: its parent (failed by it, or gone on) would not
        // wait for it again.
        throw new ConveyorError(
          'CONFLICT',
          `job ${id} is a node of flow ${row.flowId}; retry the flow (POST /v1/flows/${row.flowId}/retry)`,
        );
      }
      const definition = registry.get(row.type);
      if (!definition) throw new ConveyorError('CONFLICT', `job type ${row.type} is no longer registered`);
      const old = location.job;
      if (old) {
        // The previous run is still in Redis (kept briefly after it ended, or a cancelled
        // handler still stopping): it must leave before the same id can be enqueued again.
        const removed = await old.remove().then(
          () => true,
          () => false,
        );
        if (!removed) {
          throw new ConveyorError('CONFLICT', `job ${id} is still stopping; retry it in a moment`, {
            retryable: true,
          });
        }
      }
      const { envelope, options } = retryToEnqueue(definition, row, origin);
      queues.assertConnected();
      // In flight again, like a submit (not refused by the tenant's cap: it replaces a job
      // that already counted).
      const queue = queues.forJob(definition.queue, options.jobId ?? id);
      const entry = { queue: queue.name, jobId: options.jobId ?? id, at: row.createdAt.getTime() };
      await orUnavailable('Redis', () => inFlight.reserve(tenant, [entry]));
      let added: Job<JobEnvelope>;
      try {
        added = await orUnavailable('Redis', () => queue.add(definition.name, envelope, options));
      } catch (error) {
        await inFlight.release(tenant, [entry]).catch(() => {});
        throw error;
      }
      // What the retry did: the job is queued again (a worker may take it the next moment;
      // GET and the stream follow it from here), like a submit's 202.
      return viewFromQueue(added, options.priority ? 'prioritized' : 'waiting');
    },
  };
}
