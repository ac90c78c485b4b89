import type { Context, Hono } from 'hono';
import * as v from 'valibot';
import type { ApiEnv } from '../api-env.js';
import type { FlowService } from '../flows/flow-service.js';
import { MAX_FLOW_DEPTH, MAX_FLOW_NODES } from '../flows/flow-tree.js';
import { parseIdempotencyKey } from '../jobs/idempotency.js';
import { readJsonBody } from '../middleware/json-body.js';
import { flowViewSchema } from '../openapi/response-schemas.js';
import { resourceId } from '../resource-id.js';
import { tenantOf } from '../tenant.js';
import { declareRoutes, type Operations } from './declare-routes.js';

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
} satisfies Operations;

/** Submit and read flows. */
export function flowRoutes({ flows }: { flows: FlowService }): Hono<ApiEnv> {
  return declareRoutes(flowOperations, {
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
