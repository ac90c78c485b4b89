import { ConveyorError, parseOrThrow } from '@conveyor/core/errors';
import { type EventLog, eventChannels, type StatusEvent } from '@conveyor/core/events';
import { isTerminalStatus } from '@conveyor/core/jobs';
import type { Context, Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import * as v from 'valibot';
import type { ApiEnv } from '../api-env.js';
import type { FlowService } from '../flows/flow-service.js';
import { MAX_FLOW_DEPTH, MAX_FLOW_NODES } from '../flows/flow-tree.js';
import { parseIdempotencyKey } from '../jobs/idempotency.js';
import { readJsonBody } from '../middleware/json-body.js';
import { sse } from '../openapi/operation-spec.js';
import { flowViewSchema } from '../openapi/response-schemas.js';
import { resourceId } from '../resource-id.js';
import { createClientQueue } from '../streams/client-queue.js';
import type { EventHub } from '../streams/event-hub.js';
import { endedBefore, skipThrough, startStream, writeStart } from '../streams/resume.js';
import { tenantOf } from '../tenant.js';
import { declareRoutes, type Operations } from './declare-routes.js';
import { pipeEvents, RESUME_WORDS, resumeQuery } from './events.js';

const flowIdParam = {
  id: { description: "The flow id (its root job's id, a UUID).", schema: v.pipe(v.string(), v.uuid()) },
};

/** The `:id` of the route, checked. */
const flowId = (c: Context<ApiEnv>) => resourceId('flow', c.req.param('id'));

export const flowOperations = {
  submitFlow: {
    method: 'post',
    path: '/v1/flows',
    operationId: 'submitFlow',
    tag: 'Flows',
    summary: 'Submit a flow: a tree of jobs, each running after its children',
    description: `The body is the root job, a normal submit body with \`children\` (jobs it waits for, each of which may have children of its own) and, on each child, \`onFailure\`: what its failure does to its parent (\`fail\`, the default: the parent fails with CHILD_FAILED unrun; \`ignore\`: the parent runs and sees it in \`ctx.children()\`; \`remove\`: the parent runs without it). The whole tree is validated before anything is enqueued (a 400 names each bad field by its node's path, e.g. \`children.1.children.0.data.ms\`), then enqueued at once. At most ${MAX_FLOW_NODES} jobs and ${MAX_FLOW_DEPTH} levels. The root's \`id\` (or an \`Idempotency-Key\`) names the flow: submitting it again returns the flow with 200; with a different body, 409.`,
    scope: 'jobs:write',
    headers: {
      'Idempotency-Key': {
        description: 'Makes the submit idempotent: the key names the flow (and so every node).',
        schema: v.pipe(v.string(), v.minLength(1), v.maxLength(255)),
      },
    },
    body: 'flow',
    responses: {
      202: {
        description: 'Accepted: a new flow, every node queued.',
        schema: flowViewSchema,
        headers: { Location: "The flow's URL." },
      },
      200: {
        description: 'This id or Idempotency-Key was already submitted: the flow now.',
        schema: flowViewSchema,
      },
    },
    problems: [409],
  },
  getFlow: {
    method: 'get',
    path: '/v1/flows/:id',
    operationId: 'getFlow',
    tag: 'Flows',
    summary: "Get a flow: every node's status, root first",
    description:
      "Each node's status comes from its row once it has ended, from Redis while it is in flight (a parent waiting for its children is `queued`).",
    scope: 'jobs:read',
    pathParams: flowIdParam,
    responses: { 200: { description: 'The flow now.', schema: flowViewSchema } },
    problems: [404],
  },
  cancelFlow: {
    method: 'post',
    path: '/v1/flows/:id/cancel',
    operationId: 'cancelFlow',
    tag: 'Flows',
    summary: 'Cancel every unfinished node of a flow',
    description:
      'Children before parents, each as POST /v1/jobs/:id/cancel does (a node not started is removed, a running one aborted); finished nodes stay as they are. A flow that has ended is 409.',
    scope: 'jobs:write',
    pathParams: flowIdParam,
    responses: { 200: { description: 'The flow, its unfinished nodes cancelled.', schema: flowViewSchema } },
    problems: [404, 409],
  },
  retryFlow: {
    method: 'post',
    path: '/v1/flows/:id/retry',
    operationId: 'retryFlow',
    tag: 'Flows',
    summary: 'Run the failed nodes of an ended flow again, and every node that waits on them',
    description:
      'Each such node runs again under its id as its next generation (attempt numbers continue, as POST /v1/jobs/:id/retry does); completed nodes below them are not run again, their parents read their recorded results. A flow still in flight, or completed, is 409.',
    scope: 'jobs:write',
    pathParams: flowIdParam,
    responses: { 200: { description: 'The flow, those nodes queued again.', schema: flowViewSchema } },
    problems: [404, 409],
  },
  streamFlowEvents: {
    method: 'get',
    path: '/v1/flows/:id/events',
    operationId: 'streamFlowEvents',
    tag: 'Streams',
    summary: 'Follow every node of a flow (SSE)',
    scope: 'jobs:read',
    pathParams: flowIdParam,
    responses: {
      200: sse(
        `Server-sent events: \`event: snapshot\` with the FlowView first, then \`event: status\` with a StatusEvent per change of any node; closed after the root's terminal one. Comment lines are heartbeats. ${RESUME_WORDS} A resumed stream sends no snapshot (after a reset it does); a flow that ended before the id answers 204.`,
      ),
      204: { description: 'Resumed after the flow had already ended: nothing more will come.' },
    },
    query: resumeQuery,
    problems: [400, 404],
  },
} satisfies Operations;

export interface FlowRouteDeps {
  flows: FlowService;
  hub: EventHub;
  /** The tenants' event logs: a reconnecting stream's catch-up. */
  log: EventLog;
  prefix: string;
  /** @defaultValue 15 s */
  heartbeatMs?: number;
  /** @defaultValue 2.5 s */
  recheckMs?: number;
}

/** Submit, read, follow, cancel and retry flows. */
export function flowRoutes({
  flows,
  hub,
  log,
  prefix,
  heartbeatMs = 15_000,
  recheckMs = 2_500,
}: FlowRouteDeps): Hono<ApiEnv> {
  return declareRoutes(flowOperations, {
    cancelFlow: async (c) => c.json(await flows.cancel(tenantOf(c), flowId(c))),
    retryFlow: async (c) =>
      c.json(await flows.retry(tenantOf(c), flowId(c), { requestId: c.get('requestId') })),
    streamFlowEvents: async (c) => {
      const tenant = tenantOf(c);
      const id = flowId(c);
      parseOrThrow(resumeQuery, c.req.query());
      const row = await flows.find(tenant, id);
      if (!row) throw new ConveyorError('FLOW_NOT_FOUND', `no flow with id ${id}`);
      const nodes = new Set(row.nodes.map((node) => node.id));
      // Subscribed before the snapshot is read, as a job's stream is: an event may repeat
      // what the snapshot shows, none falls between the two.
      const events = createClientQueue<StatusEvent>();
      const unlisten = await hub.listen(eventChannels(prefix).tenant(tenant), (event) => {
        if (event.tenant !== tenant || !nodes.has(event.jobId)) return;
        events.push(event);
        if (event.jobId === id && isTerminalStatus(event.status)) events.close('terminal');
      });
      const untrack = hub.track(events);
      const stop = () => {
        unlisten();
        untrack();
        events.close();
      };
      let snapshot: Awaited<ReturnType<FlowService['get']>>;
      try {
        snapshot = await flows.get(tenant, id);
      } catch (error) {
        stop();
        throw error;
      }
      const start = await startStream(c, log, tenant, (event) => nodes.has(event.jobId), stop);
      if (isTerminalStatus(snapshot.status)) events.close('terminal');
      if (endedBefore(start, snapshot.status)) {
        stop();
        return c.body(null, 204);
      }
      return streamSSE(c, async (stream) => {
        stream.onAbort(stop);
        try {
          await writeStart(
            stream,
            start,
            log,
            () => ({ event: 'snapshot', data: snapshot }),
            async () => ({ event: 'snapshot', data: await flows.get(tenant, id) }),
          );
          await pipeEvents(c, stream, events, { heartbeatMs, recheckMs, skip: skipThrough(start) });
        } finally {
          stop();
        }
      });
    },
    submitFlow: async (c) => {
      const key = parseIdempotencyKey(c.req.header('idempotency-key'));
      const { created, flow } = await flows.submit(tenantOf(c), await readJsonBody(c), key, {
        requestId: c.get('requestId'),
      });
      c.set('jobId', flow.id);
      c.header('Location', flow.links.self);
      return c.json(flow, created ? 202 : 200);
    },
    getFlow: async (c) => c.json(await flows.get(tenantOf(c), flowId(c))),
  });
}
