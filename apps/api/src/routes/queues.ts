import { ConveyorError, parseOrThrow } from '@conveyor/core/errors';
import { internalQueues, QUEUE_COUNT_STATES } from '@conveyor/core/jobs';
import type { Queue } from 'bullmq';
import type { Hono } from 'hono';
import type { ApiEnv } from '../api-env.js';
import { hasScope } from '../auth/principal.js';
import { orUnavailable } from '../jobs/unavailable.js';
import { readJsonBody } from '../middleware/json-body.js';
import { queueNameParam } from '../openapi/operation-spec.js';
import { queueInfoSchema, queueListSchema } from '../openapi/response-schemas.js';
import {
  NO_LIMITS,
  type QueueLimitStore,
  type QueueLimits,
  queueLimitsBody,
  type RecordedQueueLimits,
} from '../queue-limits.js';
import type { QueueSet } from '../queues.js';
import { declareRoutes, type Operations } from './declare-routes.js';

export const queueOperations = {
  listQueues: {
    method: 'get',
    path: '/v1/queues',
    operationId: 'listQueues',
    tag: 'Queues',
    summary: 'Depth per state, workers and paused flag of every queue (a partitioned queue as one)',
    description:
      "Queues are shared by every tenant. With the `operator` scope each queue shows its depth per state (all tenants' jobs), its workers and `held` (the waiting jobs its limits hold back now); without it `counts`, `workers` and `held` are null, so no tenant learns another's load: list your own jobs with GET /v1/jobs. Every caller sees each queue's `limits` and who set them.",
    scope: 'jobs:read',
    responses: { 200: { description: 'Every queue.', schema: queueListSchema } },
  },
  pauseQueue: {
    method: 'post',
    path: '/v1/queues/:name/pause',
    operationId: 'pauseQueue',
    tag: 'Queues',
    summary: 'Pause a queue: workers take no new jobs from it',
    description:
      'The queue is shared by every tenant, so this needs `operator`, which `admin` does not imply; anyone else gets 403 naming the missing scope.',
    scope: 'operator',
    pathParams: queueNameParam,
    responses: { 200: { description: 'The queue, paused.', schema: queueInfoSchema } },
    problems: [404],
  },
  setQueueLimits: {
    method: 'patch',
    path: '/v1/queues/:name/limits',
    operationId: 'setQueueLimits',
    tag: 'Queues',
    summary: "Set a queue's rate limit and global concurrency, across every worker",
    description:
      "`rateLimit`: at most `max` jobs started per `durationMs`; `concurrency`: at most this many running at once; both across every worker, on top of each worker process's WORKER_CONCURRENCY. A field left out keeps its value, null removes it. Recorded in Postgres and applied to the queue in Redis at once: every worker holds it from its next job. A job held back stays queued (counted in `waiting`, and in `held` while a limit is reached) and uses no attempt. An operator's limits win over what the queue's job types declare (`defineJob({ queueLimits })`) until DELETE drops them. A partitioned queue's limits are split over its partitions, so each needs at least one. Needs `operator`.",
    scope: 'operator',
    pathParams: queueNameParam,
    body: queueLimitsBody,
    responses: { 200: { description: 'The queue, with its limits now.', schema: queueInfoSchema } },
    problems: [404],
  },
  clearQueueLimits: {
    method: 'delete',
    path: '/v1/queues/:name/limits',
    operationId: 'clearQueueLimits',
    tag: 'Queues',
    summary: "Drop an operator's limits of a queue: its job types' declared limits apply again",
    description:
      "Removes what PATCH /v1/queues/:name/limits set. The queue's job types' `queueLimits` (defineJob), if they declare any, apply again at once; without a declaration the queue has no limits. Needs `operator`.",
    scope: 'operator',
    pathParams: queueNameParam,
    responses: { 200: { description: 'The queue, with its limits now.', schema: queueInfoSchema } },
    problems: [404],
  },
  resumeQueue: {
    method: 'post',
    path: '/v1/queues/:name/resume',
    operationId: 'resumeQueue',
    tag: 'Queues',
    summary: 'Resume a paused queue',
    description: 'Needs `operator`, as pausing does.',
    scope: 'operator',
    pathParams: queueNameParam,
    responses: { 200: { description: 'The queue, running.', schema: queueInfoSchema } },
    problems: [404],
  },
} satisfies Operations;

const LIMIT_KINDS = ['rateLimit', 'concurrency'] as const;

/** A queue's `limits` and `limitsSetBy` as the API shows them. */
const limitsOf = (recorded: RecordedQueueLimits | undefined) => ({
  limits: recorded ? { rateLimit: recorded.rateLimit, concurrency: recorded.concurrency } : NO_LIMITS,
  limitsSetBy: recorded?.setBy ?? null,
});

/**
 * Which limits hold a BullMQ queue back right now: its rate limit when this window's starts
 * are used up (the limiter key has a TTL), its global concurrency when as many jobs run.
 */
async function heldBy(queue: Queue, limits: QueueLimits | null): Promise<(typeof LIMIT_KINDS)[number][]> {
  if (!limits || (limits.rateLimit === null && limits.concurrency === null)) return [];
  const [ttl, concurrency, active] = await Promise.all([
    limits.rateLimit === null ? 0 : queue.getRateLimitTtl(),
    limits.concurrency === null ? null : queue.getGlobalConcurrency(),
    limits.concurrency === null ? 0 : queue.getActiveCount(),
  ]);
  return [
    ...(ttl > 0 ? (['rateLimit'] as const) : []),
    ...(concurrency !== null && active >= concurrency ? (['concurrency'] as const) : []),
  ];
}

/**
 * Queue depth per state, worker count and paused flag; pause and resume (operator). Queues
 * are shared by every tenant, so their depth and workers are everyone's business: only an
 * operator sees them. Anyone else gets each queue's name and paused flag, with `counts` and
 * `workers` null (their own jobs are in GET /v1/jobs). Conveyor's own queues (`schedules`,
 * `callbacks`) come last, marked `internal`.
 */
export function queueRoutes({ queues, limits }: { queues: QueueSet; limits: QueueLimitStore }): Hono<ApiEnv> {
  const named = (name: string) => {
    const group = queues.groups().find((g) => g.name === name);
    if (!group) {
      throw new ConveyorError(
        'QUEUE_NOT_FOUND',
        `no queue named ${name}; queues: ${queues
          .groups()
          .map((g) => g.name)
          .join(', ')}`,
      );
    }
    return group;
  };
  /** A queue as one, over its partitions: counts summed, paused if any is, the fewest workers. */
  const describe = async (
    { name, partitions }: { name: string; partitions: readonly Queue[] },
    operator: boolean,
    internal = false,
    recorded?: Map<string, RecordedQueueLimits>,
  ) => {
    queues.assertConnected();
    const base = {
      name,
      internal,
      partitions: partitions.length,
      ...limitsOf((recorded ?? (await limits.read())).get(name)),
    };
    if (!operator) {
      const paused = await orUnavailable('Redis', () => Promise.all(partitions.map((q) => q.isPaused())));
      return { ...base, counts: null, paused: paused.some(Boolean), workers: null, held: null };
    }
    const each = await orUnavailable('Redis', () =>
      Promise.all(
        partitions.map((q) =>
          Promise.all([
            q.getJobCounts(...QUEUE_COUNT_STATES),
            q.isPaused(),
            q.getWorkersCount(),
            heldBy(q, internal ? null : base.limits),
          ]),
        ),
      ),
    );
    const counts = Object.fromEntries(
      QUEUE_COUNT_STATES.map((state) => [state, each.reduce((sum, [c]) => sum + (c[state] ?? 0), 0)]),
    ) as Record<(typeof QUEUE_COUNT_STATES)[number], number>;
    const paused = each.some(([, isPaused]) => isPaused);
    const workers = Math.min(...each.map(([, , n]) => n));
    const by = new Set(each.flatMap(([, , , reached]) => reached));
    const held = {
      // A partition at a limit holds back every job waiting in it.
      jobs: each.reduce(
        (sum, [c, , , reached]) => sum + (reached.length > 0 ? (c.waiting ?? 0) + (c.prioritized ?? 0) : 0),
        0,
      ),
      by: LIMIT_KINDS.filter((kind) => by.has(kind)),
    };
    return { ...base, counts, paused, workers, held };
  };
  return declareRoutes(queueOperations, {
    listQueues: async (c) => {
      const principal = c.get('principal');
      const operator = principal !== undefined && hasScope(principal, 'operator');
      const recorded = await limits.read();
      const items = await Promise.all([
        ...queues.groups().map((g) => describe(g, operator, false, recorded)),
        // Conveyor's own queues (schedule ticks, webhook deliveries): listed, not pausable here.
        ...internalQueues.map((name) =>
          describe({ name, partitions: [queues.internal(name)] }, operator, true, recorded),
        ),
      ]);
      return c.json({ items });
    },
    pauseQueue: async (c) => {
      const group = named(c.req.param('name') ?? '');
      await orUnavailable('Redis', () => Promise.all(group.partitions.map((q) => q.pause())));
      return c.json(await describe(group, true));
    },
    setQueueLimits: async (c) => {
      const group = named(c.req.param('name') ?? '');
      const change = parseOrThrow(queueLimitsBody, await readJsonBody(c));
      queues.assertConnected();
      await limits.set(group.name, group.partitions, change);
      return c.json(await describe(group, true));
    },
    clearQueueLimits: async (c) => {
      const group = named(c.req.param('name') ?? '');
      queues.assertConnected();
      await limits.clear(group.name, group.partitions);
      return c.json(await describe(group, true));
    },
    resumeQueue: async (c) => {
      const group = named(c.req.param('name') ?? '');
      await orUnavailable('Redis', () => Promise.all(group.partitions.map((q) => q.resume())));
      return c.json(await describe(group, true));
    },
  });
}
