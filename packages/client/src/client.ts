import type { StatusEvent } from '@conveyor/core/events';
import type {
  BatchItemResult,
  BulkCancelResult,
  BulkRetryResult,
  JobStats,
  JobStatus,
  JobView,
  SubmitJobResponse,
} from '@conveyor/core/jobs';

export type { BulkCancelResult, BulkRetryResult } from '@conveyor/core/jobs';

import type { CreateScheduleBody, ScheduleView, UpdateScheduleBody } from '@conveyor/core/schedules';
import { isTerminalStatus } from '@conveyor/core/status';
import type {
  CreateWebhookBody,
  DeliveryView,
  UpdateWebhookBody,
  WebhookView,
} from '@conveyor/core/webhooks';
import type { FlowNode, FlowView, FlowWatchItem, SubmitFlowOptions } from './flows.js';
import type { JobDefinitions, SubmitData, TypeName, UntypedJobs } from './job-definitions.js';
import { parseSse, type SseMessage } from './sse.js';

/** A problem+json answer of the API, as an Error. */
export class ConveyorApiError extends Error {
  override readonly name = 'ConveyorApiError';
  readonly status: number;
  /** The problem's stable code, e.g. VALIDATION_FAILED. */
  readonly code: string;
  /** The whole problem document. */
  readonly problem: Record<string, unknown>;
  constructor(status: number, code: string, message: string, problem: Record<string, unknown>) {
    super(message);
    this.status = status;
    this.code = code;
    this.problem = problem;
  }
}

/** Options of one submit, besides type and data. */
export interface SubmitOptions {
  id?: string;
  idempotencyKey?: string;
  priority?: number;
  delayMs?: number;
  runAt?: string;
  attempts?: number;
  timeoutMs?: number;
  metadata?: Record<string, unknown>;
  /** Up to 10 labels to find the job by (list({ tag })). */
  tags?: string[];
  /** Expire the job if not started this many ms after it is due; not with expiresAt. */
  ttlMs?: number;
  /** Expire the job if not started by this ISO 8601 time. */
  expiresAt?: string;
  /** POST the job's terminal status event here (signed with the tenant's signing secret). */
  callbackUrl?: string;
}

/** One item of submitBatch, its data typed by its job type in `J`. */
export type BatchJob<J extends JobDefinitions = UntypedJobs> = {
  [T in TypeName<J>]: { type: T; data: SubmitData<J, T> } & Omit<SubmitOptions, 'idempotencyKey'>;
}[TypeName<J>];

/** Paging of a list: pass a page's `nextCursor` as `cursor` to get the page after it. */
export interface PageQuery {
  /** Items per page. @defaultValue 50 (the API's) */
  limit?: number;
  cursor?: string;
}

/** One page of a list; `nextCursor` is null on the last one. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface ListQuery extends PageQuery {
  status?: JobStatus | JobStatus[];
  type?: string;
  queue?: string;
  createdAfter?: string;
  createdBefore?: string;
  /** Only the jobs this schedule produced. */
  scheduleId?: string;
  /** Only jobs with every one of these tags. */
  tag?: string | string[];
  /** Only jobs whose metadata has each key with that value (`metadata.<key>=<value>`). */
  metadata?: Record<string, string | number | boolean>;
}

/** What POST /v1/jobs/retry retries: finished jobs that did not complete, by the list's filters. */
export interface BulkRetryFilter {
  status?: ('failed' | 'cancelled' | 'expired')[];
  type?: string;
  queue?: string;
  scheduleId?: string;
  createdAfter?: string;
  createdBefore?: string;
  tag?: string[];
  metadata?: Record<string, string | number | boolean>;
  dryRun?: boolean;
  cursor?: string;
}

/** What POST /v1/jobs/cancel cancels: queued or running jobs, by the list's filters. */
export type BulkCancelFilter = Omit<BulkRetryFilter, 'status' | 'cursor'> & {
  status?: ('queued' | 'active')[];
};

/** Query of a webhook's deliveries, newest first. */
export interface DeliveryQuery extends PageQuery {
  status?: DeliveryView['status'] | DeliveryView['status'][];
}

/** `path` with the defined fields of `query` as its query string; arrays comma-separated. */
function withQuery(path: string, query: object): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) params.set(key, Array.isArray(value) ? value.join(',') : String(value));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

/** How often waitForFlow reads the flow. */
const FLOW_POLL_MS = 250;

/** Resolves after `ms`; rejects with the signal's reason once it aborts. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A status stream item: the snapshot first, then events. After a reconnect whose gap was
 * longer than the API's event window, a fresh snapshot comes again.
 */
export type WatchItem = { kind: 'snapshot'; job: JobView } | { kind: 'event'; event: StatusEvent };

/**
 * An item of the tenant's event stream (watchEvents). `reset`: the connection was away
 * longer than the API's event window, so events may have been missed; re-read the state
 * you follow (list, get).
 */
export type EventsWatchItem =
  | { kind: 'event'; event: StatusEvent }
  | { kind: 'reset'; lastEventId: string; message: string };

/** Filters of watchEvents, as GET /v1/events takes them. */
export interface EventsQuery {
  type?: string | string[];
  queue?: string | string[];
  status?: JobStatus | JobStatus[];
  /** Start after this event id (one a previous stream gave) rather than now. */
  lastEventId?: string;
}

/** Reconnects in a row a stream may fail before it gives up with the error. */
const STREAM_RECONNECTS = 10;
/** Wait before the n-th reconnect in a row: 250 ms doubling, at most 5 s. */
const reconnectDelay = (n: number) => Math.min(250 * 2 ** (n - 1), 5_000);

export interface ClientOptions {
  /** Base URL of the API, e.g. http://127.0.0.1:3000 */
  url: string;
  /** API key (cvk_…) or JWT, sent as a bearer token. */
  apiKey?: string;
  /** @defaultValue globalThis.fetch */
  fetch?: typeof fetch;
}

/** A queue's limits across every worker; null: none. */
export interface QueueLimits {
  rateLimit: { max: number; durationMs: number } | null;
  concurrency: number | null;
}

/** A queue as GET /v1/queues lists it (a partitioned one as one). */
export interface QueueInfo {
  name: string;
  internal: boolean;
  counts: Record<string, number> | null;
  paused: boolean;
  workers: number | null;
  partitions: number;
  limits: QueueLimits;
  /** Who set `limits`: an operator through the API (wins), or the queue's job types; null: none. */
  limitsSetBy: 'operator' | 'declared' | null;
  /** Jobs its limits hold back now, and which limits; null without the operator scope. */
  held: { jobs: number; by: ('rateLimit' | 'concurrency')[] } | null;
}

/**
 * A client for the Conveyor API, on fetch: Node 20+ and browsers. Given the type of a
 * project's own job definitions, `submit`, `submitBatch` and `submitFlow` accept only their
 * names and data; without one, any name and data (the API validates them).
 *
 * @example
 * import { jobs } from './jobs.js'; // [resize, …] as const, each made with defineJob
 * const conveyor = createClient<typeof jobs>({ url: 'http://127.0.0.1:3000', apiKey });
 * const { id } = await conveyor.submit('acme.resize', { url, width: 320 });
 * const job = await conveyor.waitFor(id); // job.status === 'completed'
 */
export function createClient<J extends JobDefinitions = UntypedJobs>({
  url,
  apiKey,
  fetch: doFetch = globalThis.fetch,
}: ClientOptions) {
  const base = url.replace(/\/+$/, '');

  async function call<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    signal?: AbortSignal,
  ): Promise<T> {
    const response = await doFetch(`${base}${path}`, {
      method,
      headers: {
        ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      ...(signal ? { signal } : {}),
    });
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    const parsed = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
    if (!response.ok) {
      throw new ConveyorApiError(
        response.status,
        typeof parsed.code === 'string' ? parsed.code : 'HTTP_ERROR',
        typeof parsed.detail === 'string' ? parsed.detail : `${method} ${path} answered ${response.status}`,
        parsed,
      );
    }
    return parsed as T;
  }

  function submitJob(type: string, data: unknown, options: SubmitOptions = {}): Promise<SubmitJobResponse> {
    const { idempotencyKey, ...rest } = options;
    return call(
      'POST',
      '/v1/jobs',
      { type, data, ...rest },
      idempotencyKey ? { 'idempotency-key': idempotencyKey } : {},
    );
  }

  const problemOf = async (response: Response) => {
    const problem = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    return new ConveyorApiError(
      response.status,
      String(problem.code ?? 'HTTP_ERROR'),
      String(problem.detail ?? 'watch failed'),
      problem,
    );
  };

  /**
   * The SSE messages of `path` (a job's, a flow's or the tenant's events). A connection that
   * drops, or ends while `ended()` is false, is opened again with Last-Event-ID, so the API
   * sends what was missed and nothing twice; up to STREAM_RECONNECTS failures in a row,
   * then the last error is thrown. A 4xx answer, an `event: error`, or any failure before
   * the stream sent its first id, is thrown at once.
   */
  async function* stream(
    path: string,
    signal: AbortSignal | undefined,
    ended: () => boolean,
    lastEventId?: string,
  ): AsyncGenerator<SseMessage> {
    let last = lastEventId;
    for (let failures = 0; ; ) {
      let failure: unknown;
      try {
        const response = await doFetch(`${base}${path}`, {
          headers: {
            accept: 'text/event-stream',
            ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
            ...(last === undefined ? {} : { 'last-event-id': last }),
          },
          ...(signal ? { signal } : {}),
        });
        // A resume after the end: nothing more will come.
        if (response.status === 204) return;
        if (!response.ok || !response.body) {
          const error = await problemOf(response);
          if (response.status < 500 || last === undefined) throw error;
          failure = error;
        } else {
          failures = 0;
          for await (const message of parseSse(response.body, signal)) {
            if (message.id !== undefined) last = message.id;
            if (message.event === 'error') {
              const problem = JSON.parse(message.data) as Record<string, unknown>;
              throw new ConveyorApiError(401, String(problem.code), String(problem.message), problem);
            }
            yield message;
          }
          if (ended()) return;
        }
      } catch (error) {
        // Before the first id there is nowhere to resume from: the error is the answer.
        if (signal?.aborted || error instanceof ConveyorApiError || last === undefined) throw error;
        failure = error;
      }
      if (++failures > STREAM_RECONNECTS) throw failure ?? new Error(`${path}: the stream kept ending`);
      await pause(reconnectDelay(failures), signal);
    }
  }

  async function* watch(id: string, signal?: AbortSignal): AsyncGenerator<WatchItem> {
    let done = false;
    const path = `/v1/jobs/${encodeURIComponent(id)}/events`;
    for await (const message of stream(path, signal, () => done)) {
      if (message.event === 'snapshot') {
        const job = JSON.parse(message.data) as JobView;
        done = isTerminalStatus(job.status);
        yield { kind: 'snapshot', job };
      } else if (message.event === 'status') {
        const event = JSON.parse(message.data) as StatusEvent;
        done = isTerminalStatus(event.status);
        yield { kind: 'event', event };
      }
    }
  }

  const flowPath = (id: string, action = '') => `/v1/flows/${encodeURIComponent(id)}${action}`;

  return {
    /** Submits one job; 202 and 200 (a repeated id or key) both resolve with the job. */
    submit<T extends TypeName<J>>(
      type: T,
      data: SubmitData<J, T>,
      options: SubmitOptions = {},
    ): Promise<SubmitJobResponse> {
      return submitJob(type, data, options);
    },
    /** Submits a job whose type is only known at run time (a CLI, a form); the API validates it. */
    submitUntyped: submitJob,
    /** Manages the caller tenant's API keys (admin scope). */
    keys: {
      create: (name: string, scopes: string[], expiresAt?: string) =>
        call<{ id: string; key: string; scopes: string[] }>('POST', '/v1/keys', {
          name,
          scopes,
          ...(expiresAt ? { expiresAt } : {}),
        }),
      list: () =>
        call<{ items: { id: string; name: string; scopes: string[]; revokedAt: string | null }[] }>(
          'GET',
          '/v1/keys',
        ),
      revoke: (id: string) => call<void>('DELETE', `/v1/keys/${encodeURIComponent(id)}`),
    },
    /** Submits up to 1,000 jobs, all validated before any is enqueued. */
    async submitBatch(jobs: BatchJob<J>[]): Promise<BatchItemResult[]> {
      return (await call<{ items: BatchItemResult[] }>('POST', '/v1/jobs/batch', { jobs })).items;
    },
    get: (id: string) => call<JobView>('GET', `/v1/jobs/${encodeURIComponent(id)}`),
    /** The tenant's finished jobs per outcome over the last `minutes` (default 60), in total and per minute. */
    stats: (minutes?: number) => call<JobStats>('GET', withQuery('/v1/stats', { minutes })),
    list: ({ metadata = {}, ...query }: ListQuery = {}) =>
      call<Page<JobView>>(
        'GET',
        withQuery('/v1/jobs', {
          ...query,
          ...Object.fromEntries(
            Object.entries(metadata).map(([key, value]) => [`metadata.${key}`, String(value)]),
          ),
        }),
      ),
    cancel: (id: string) => call<JobView>('POST', `/v1/jobs/${encodeURIComponent(id)}/cancel`),
    retry: (id: string) => call<JobView>('POST', `/v1/jobs/${encodeURIComponent(id)}/retry`),
    /**
     * Retries the failed, cancelled or expired jobs a filter matches (the list's filters), up
     * to 1,000 a call: pass `nextCursor` back as `cursor` until it is null. `dryRun` counts.
     */
    retryMatching: (filter: BulkRetryFilter) => call<BulkRetryResult>('POST', '/v1/jobs/retry', filter),
    /**
     * Cancels the queued or running jobs a filter matches, up to 1,000 a call: call again while
     * `more` is true. `dryRun` counts.
     */
    cancelMatching: (filter: BulkCancelFilter) => call<BulkCancelResult>('POST', '/v1/jobs/cancel', filter),
    /** Recurring jobs of the caller's tenant. */
    schedules: {
      create: (body: CreateScheduleBody) => call<ScheduleView>('POST', '/v1/schedules', body),
      /** Oldest first. */
      list: (query: PageQuery = {}) => call<Page<ScheduleView>>('GET', withQuery('/v1/schedules', query)),
      get: (id: string) => call<ScheduleView>('GET', `/v1/schedules/${encodeURIComponent(id)}`),
      update: (id: string, body: UpdateScheduleBody) =>
        call<ScheduleView>('PATCH', `/v1/schedules/${encodeURIComponent(id)}`, body),
      pause: (id: string) =>
        call<ScheduleView>('PATCH', `/v1/schedules/${encodeURIComponent(id)}`, { paused: true }),
      resume: (id: string) =>
        call<ScheduleView>('PATCH', `/v1/schedules/${encodeURIComponent(id)}`, { paused: false }),
      remove: (id: string) => call<void>('DELETE', `/v1/schedules/${encodeURIComponent(id)}`),
    },
    /** Webhook subscriptions and deliveries (admin scope). */
    webhooks: {
      /** The answer holds the signing secret: the only time it is shown. */
      create: (body: CreateWebhookBody) =>
        call<WebhookView & { secret: string }>('POST', '/v1/webhooks', body),
      list: () => call<{ items: WebhookView[] }>('GET', '/v1/webhooks'),
      get: (id: string) => call<WebhookView>('GET', `/v1/webhooks/${encodeURIComponent(id)}`),
      update: (id: string, body: UpdateWebhookBody) =>
        call<WebhookView>('PATCH', `/v1/webhooks/${encodeURIComponent(id)}`, body),
      remove: (id: string) => call<void>('DELETE', `/v1/webhooks/${encodeURIComponent(id)}`),
      /** A webhook's deliveries, newest first. */
      deliveries: (id: string, query: DeliveryQuery = {}) =>
        call<Page<DeliveryView>>(
          'GET',
          withQuery(`/v1/webhooks/${encodeURIComponent(id)}/deliveries`, query),
        ),
      /** Sends a delivery's event again, as a new delivery (202, `pending`) to the webhook's current URL. */
      redeliver: (id: string, deliveryId: string) =>
        call<DeliveryView>(
          'POST',
          `/v1/webhooks/${encodeURIComponent(id)}/deliveries/${encodeURIComponent(deliveryId)}/redeliver`,
        ),
      /** The key that signs deliveries to jobs' own callbackUrl. */
      signingSecret: async () =>
        (await call<{ secret: string }>('GET', '/v1/webhooks/signing-secret')).secret,
    },
    /** Every webhook delivery of one job (to its callbackUrl and to the tenant's webhooks). */
    deliveries: async (jobId: string) =>
      (await call<{ items: DeliveryView[] }>('GET', `/v1/jobs/${encodeURIComponent(jobId)}/deliveries`))
        .items,
    /**
     * Every queue (a partitioned one as one: counts summed over its `partitions`); `counts`
     * and `workers` are null unless the key holds the `operator` scope.
     */
    queues: () => call<{ items: QueueInfo[] }>('GET', '/v1/queues'),
    /**
     * Sets a queue's limits across every worker (operator): `rateLimit` (at most `max` jobs
     * started per `durationMs`) and `concurrency` (at most this many running); a field left
     * out keeps its value, null removes it. Resolves with the queue.
     */
    setQueueLimits: (name: string, limits: Partial<QueueLimits>) =>
      call<QueueInfo>('PATCH', `/v1/queues/${encodeURIComponent(name)}/limits`, limits),
    /**
     * Drops the limits an operator set on a queue (operator): what its job types declare
     * (`defineJob({ queueLimits })`), if anything, applies again. Resolves with the queue.
     */
    clearQueueLimits: (name: string) =>
      call<QueueInfo>('DELETE', `/v1/queues/${encodeURIComponent(name)}/limits`),
    /** The job's snapshot, then its status events as they happen, ending after the terminal one. */
    watch,
    /**
     * Submits a flow: `root` and its `children` (each of any type, each with children of its
     * own and an `onFailure`), validated whole by the API before any is enqueued. 202 and 200
     * (a repeated root id or key) both resolve with the flow, root first.
     */
    submitFlow(root: FlowNode<J>, options: SubmitFlowOptions = {}): Promise<FlowView> {
      return call(
        'POST',
        '/v1/flows',
        root,
        options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {},
      );
    },
    /** The flow and every node's status now, root first; FLOW_NOT_FOUND for an unknown id. */
    getFlow: (id: string) => call<FlowView>('GET', flowPath(id)),
    /** Cancels every node of the flow that has not ended, children first; 409 once the flow has ended. */
    cancelFlow: (id: string) => call<FlowView>('POST', flowPath(id, '/cancel')),
    /**
     * Runs an ended flow's failed, cancelled and expired nodes again, with every node waiting
     * on them; the completed rest stay as they are. Resolves with the flow.
     */
    retryFlow: (id: string) => call<FlowView>('POST', flowPath(id, '/retry')),
    /**
     * The flow's snapshot, then the status events of any of its nodes as they happen
     * (GET /v1/flows/:id/events), ending after the root's terminal one.
     */
    async *watchFlow(id: string, signal?: AbortSignal): AsyncGenerator<FlowWatchItem> {
      let done = false;
      for await (const message of stream(flowPath(id, '/events'), signal, () => done)) {
        if (message.event === 'snapshot') {
          const flow = JSON.parse(message.data) as FlowView;
          done = isTerminalStatus(flow.status);
          yield { kind: 'snapshot', flow };
        } else if (message.event === 'status') {
          const event = JSON.parse(message.data) as StatusEvent;
          done = event.jobId === id && isTerminalStatus(event.status);
          yield { kind: 'event', event };
        }
      }
    },
    /**
     * The tenant's status events as they happen (GET /v1/events), filtered; it never ends by
     * itself (abort `signal` to stop). A dropped connection resumes where it left off; a gap
     * longer than the API's event window yields `reset`.
     */
    async *watchEvents(
      { lastEventId, ...filters }: EventsQuery = {},
      signal?: AbortSignal,
    ): AsyncGenerator<EventsWatchItem> {
      for await (const message of stream(
        withQuery('/v1/events', filters),
        signal,
        () => false,
        lastEventId,
      )) {
        if (message.event === 'status')
          yield { kind: 'event', event: JSON.parse(message.data) as StatusEvent };
        else if (message.event === 'reset') {
          const notice = JSON.parse(message.data) as { lastEventId: string; message: string };
          yield { kind: 'reset', lastEventId: notice.lastEventId, message: notice.message };
        }
      }
    },
    /**
     * Resolves with the flow once its root is terminal (completed, failed, cancelled or
     * expired); its children ended before it. Polls GET /v1/flows/:id every 250 ms (no
     * stream held open); `signal` aborting rejects it with the signal's reason.
     */
    async waitForFlow(id: string, signal?: AbortSignal): Promise<FlowView> {
      for (;;) {
        signal?.throwIfAborted();
        const flow = await call<FlowView>('GET', flowPath(id), undefined, {}, signal);
        if (isTerminalStatus(flow.status)) return flow;
        await pause(FLOW_POLL_MS, signal);
      }
    },
    /** Resolves with the job once it is terminal (completed, failed, cancelled or expired). */
    async waitFor(id: string, signal?: AbortSignal): Promise<JobView> {
      for await (const item of watch(id, signal)) {
        if (item.kind === 'snapshot' && isTerminalStatus(item.job.status)) return item.job;
        if (item.kind === 'event' && isTerminalStatus(item.event.status))
          return call<JobView>('GET', `/v1/jobs/${id}`);
      }
      return call<JobView>('GET', `/v1/jobs/${encodeURIComponent(id)}`);
    },
  };
}

/** A client of the job types `J`; untyped without a type argument. */
export type ConveyorClient<J extends JobDefinitions = UntypedJobs> = ReturnType<typeof createClient<J>>;
