import { randomUUID } from 'node:crypto';
import { useTestServices } from '@conveyor/dev/testing';
import { defineJob, NonRetryableError } from '@conveyor/sdk';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipeline, type Pipeline, postJson, waitForStatus, withKey } from './harness.js';

/**
 * Flows over HTTP: a tree of jobs submitted at once, each parent running after its children
 * and reading how they ended (ctx.children()), every node one row of its flow.
 */
const services = useTestServices();
let p: Pipeline;

/** A parent that reports what it saw of its children, and when it ran. */
const collect = defineJob({
  name: 'flow.collect',
  description: 'Returns its children as ctx.children() gives them (testing only).',
  input: v.nullish(v.strictObject({ label: v.optional(v.string()) })),
  run: async (_input, ctx) => ({
    ranAt: Date.now(),
    children: (await ctx.children()).map(({ id, type, status, result, error }) => ({
      id,
      type,
      status,
      result,
      error: error?.code ?? null,
    })),
  }),
});

/** Fails while `downstream.down`, then completes: a dependency that comes back. */
const downstream = { down: true };
const flaky = defineJob({
  name: 'flow.downstream',
  description: 'Fails while the test says its dependency is down (testing only).',
  input: v.nullish(v.unknown()),
  run: async () => {
    if (downstream.down) throw new NonRetryableError('downstream is down');
    return { ok: true };
  },
});

interface FlowNode {
  id: string;
  type: string;
  queue: string;
  parentId: string | null;
  path: string;
  onFailure: string;
  status: string;
}
interface FlowView {
  id: string;
  status: string;
  nodes: FlowNode[];
  links: { self: string; events: string };
}

const submitFlow = async (body: unknown, headers: Record<string, string> = {}) => {
  const response = await postJson(p, '/v1/flows', body, headers);
  return { status: response.status, body: (await response.json()) as FlowView & { errors?: unknown[] } };
};
const get = (path: string) => p.request(path);

interface RowOf {
  id: string;
  status: string;
  flow_id: string | null;
  parent_id: string | null;
  child_ids: string[] | null;
  started_at: Date | null;
  finished_at: Date;
  runs: number;
}
const rowsOf = (ids: string[]) =>
  p.database.sql<RowOf[]>`
    select id, status, flow_id, parent_id, child_ids, started_at, finished_at, runs
    from jobs where tenant = 'default' and id = any(${ids})`;

beforeAll(async () => {
  p = await createPipeline(services);
  await p.startWorker({ concurrency: 8, jobs: [collect, flaky] }).registered();
});
afterAll(() => p?.close());

describe('POST /v1/flows', () => {
  it('runs a three-level flow children first; the root reads its children; each node is one row', async () => {
    const { status, body: flow } = await submitFlow({
      type: 'flow.collect',
      data: { label: 'root' },
      children: [
        {
          type: 'flow.collect',
          data: { label: 'mid' },
          children: [
            { type: 'echo', data: { leaf: 1 } },
            { type: 'sleep', data: { ms: 150 } },
          ],
        },
        { type: 'echo', data: { leaf: 2 } },
      ],
    });
    expect(status).toBe(202);
    expect(flow.nodes.map((n) => [n.path, n.type, n.status])).toEqual([
      ['', 'flow.collect', 'queued'],
      ['children.0', 'flow.collect', 'queued'],
      ['children.0.children.0', 'echo', 'queued'],
      ['children.0.children.1', 'sleep', 'queued'],
      ['children.1', 'echo', 'queued'],
    ]);
    const [root, mid, leaf1, sleeper, leaf2] = flow.nodes as [
      FlowNode,
      FlowNode,
      FlowNode,
      FlowNode,
      FlowNode,
    ];
    expect(root.id).toBe(flow.id);
    expect([mid.parentId, leaf1.parentId, sleeper.parentId, leaf2.parentId]).toEqual([
      root.id,
      mid.id,
      mid.id,
      root.id,
    ]);

    const done = await waitForStatus(get, root.id, ['completed', 'failed']);
    expect(done.status).toBe('completed');
    const result = done.result as { children: { id: string; status: string; result: unknown }[] };
    expect(result.children.map((c) => [c.id, c.status])).toEqual([
      [mid.id, 'completed'],
      [leaf2.id, 'completed'],
    ]);
    expect(result.children[1]?.result).toEqual({ leaf: 2 });
    // The middle node's result holds its own children's, as the root read it from Postgres.
    const midResult = result.children[0]?.result as { children: { id: string; result: unknown }[] };
    expect(midResult.children.map((c) => c.id)).toEqual([leaf1.id, sleeper.id]);
    expect(midResult.children[0]?.result).toEqual({ leaf: 1 });

    const rows = await rowsOf(flow.nodes.map((n) => n.id));
    expect(rows).toHaveLength(5);
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const node of flow.nodes) {
      const row = byId.get(node.id) as RowOf;
      expect(row.status).toBe('completed');
      expect(row.flow_id).toBe(root.id);
      expect(row.parent_id).toBe(node.parentId);
    }
    expect(byId.get(root.id)?.child_ids).toEqual([mid.id, leaf2.id]);
    // No parent started before every child of it had finished.
    for (const node of flow.nodes.filter((n) => n.parentId !== null)) {
      const parent = byId.get(node.parentId as string) as RowOf;
      expect(new Date(parent.started_at ?? 0).getTime()).toBeGreaterThanOrEqual(
        new Date((byId.get(node.id) as RowOf).finished_at).getTime(),
      );
    }

    const tree = (await (await get(`/v1/flows/${flow.id}`)).json()) as FlowView;
    expect(tree.status).toBe('completed');
    expect(tree.nodes.every((n) => n.status === 'completed')).toBe(true);
    const midView = (await (await get(`/v1/jobs/${mid.id}`)).json()) as {
      flowId: string;
      parentId: string;
      childIds: string[];
      links: { flow: string };
    };
    expect(midView).toMatchObject({
      flowId: root.id,
      parentId: root.id,
      childIds: [leaf1.id, sleeper.id],
      links: { flow: `/v1/flows/${root.id}` },
    });
  });

  it("applies each child's onFailure: fail fails the parent unrun, ignore shows it, remove leaves it out", async () => {
    const { body: tolerant } = await submitFlow({
      type: 'flow.collect',
      children: [
        { type: 'test.fail', data: { message: 'seen' }, attempts: 1, onFailure: 'ignore' },
        { type: 'test.fail', data: { message: 'dropped' }, attempts: 1, onFailure: 'remove' },
        { type: 'echo', data: { ok: true } },
      ],
    });
    const done = await waitForStatus(get, tolerant.id, ['completed', 'failed']);
    expect(done.status).toBe('completed');
    const seen = (done.result as { children: { id: string; status: string; error: string | null }[] })
      .children;
    expect(seen.map((c) => [c.id, c.status, c.error])).toEqual([
      [tolerant.nodes[1]?.id, 'failed', 'HANDLER_FAILED'],
      [tolerant.nodes[3]?.id, 'completed', null],
    ]);

    const { body: strict } = await submitFlow({
      type: 'flow.collect',
      children: [
        { type: 'echo', data: { ok: true } },
        { type: 'test.fail', data: { message: 'fatal' }, attempts: 1 },
      ],
    });
    const failed = await waitForStatus(get, strict.id, ['completed', 'failed']);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatchObject({ code: 'CHILD_FAILED', retryable: false });
    expect(failed.error?.message).toContain(`child ${strict.nodes[2]?.id} (test.fail) failed: fatal`);
    const [rootRow] = await rowsOf([strict.id]);
    // Failed by its child, its handler never ran.
    expect(rootRow).toMatchObject({ status: 'failed', runs: 0, started_at: null });
    const tree = (await (await get(`/v1/flows/${strict.id}`)).json()) as FlowView;
    expect(tree.nodes.map((n) => n.status)).toEqual(['failed', 'completed', 'failed']);
  });

  it('validates the whole tree first: a bad node is a 400 naming its path, and nothing is enqueued', async () => {
    const before = await p.queues.get('default').getJobCounts('waiting', 'delayed', 'waiting-children');
    const bad = await submitFlow({
      type: 'flow.collect',
      children: [
        { type: 'echo' },
        { type: 'flow.collect', children: [{ type: 'sleep', data: { ms: 'long' } }, { type: 'nope' }] },
        { type: 'echo', onFailure: 'sometimes' },
        'not a job',
      ],
    });
    expect(bad.status).toBe(400);
    const paths = (bad.body.errors as { path: string }[]).map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'children.1.children.0.data.ms',
        'children.1.children.1.type',
        'children.2.onFailure',
        'children.3',
      ]),
    );
    expect(await p.queues.get('default').getJobCounts('waiting', 'delayed', 'waiting-children')).toEqual(
      before,
    );

    expect((await submitFlow({ type: 'echo', onFailure: 'ignore' })).status).toBe(400);
    let deep: Record<string, unknown> = { type: 'echo' };
    for (let level = 0; level < 10; level++) deep = { type: 'flow.collect', children: [deep] };
    const tooDeep = await submitFlow(deep);
    expect(tooDeep.status).toBe(400);
    expect(JSON.stringify(tooDeep.body)).toContain('at most 10 levels');
    const wide = await submitFlow({
      type: 'flow.collect',
      children: Array.from({ length: 1_000 }, () => ({ type: 'noop' })),
    });
    expect(wide.status).toBe(400);
    expect(JSON.stringify(wide.body)).toContain('at most 1000 jobs');
  });

  it('makes a repeated flow a no-op by Idempotency-Key or root id; another body under it is 409', async () => {
    const body = { type: 'flow.collect', children: [{ type: 'echo', data: { n: 1 } }, { type: 'noop' }] };
    const key = { 'idempotency-key': `flow-${randomUUID()}` };
    const first = await submitFlow(body, key);
    expect(first.status).toBe(202);
    const again = await submitFlow(body, key);
    expect(again.status).toBe(200);
    expect(again.body.nodes.map((n) => n.id)).toEqual(first.body.nodes.map((n) => n.id));
    await waitForStatus(get, first.body.id, ['completed']);
    expect((await submitFlow(body, key)).status).toBe(200);
    expect(await rowsOf(first.body.nodes.map((n) => n.id))).toHaveLength(3);
    const other = await submitFlow({ ...body, children: [{ type: 'noop' }] }, key);
    expect(other.status).toBe(409);

    const id = randomUUID();
    expect((await submitFlow({ id, type: 'noop', children: [{ type: 'noop' }] })).status).toBe(202);
    expect((await submitFlow({ id, type: 'noop', children: [{ type: 'noop' }] })).status).toBe(200);
    // A client id that already names a job of the tenant, outside any flow, is refused.
    const job = (await (await postJson(p, '/v1/jobs', { type: 'noop' })).json()) as { id: string };
    expect((await submitFlow({ type: 'noop', children: [{ id: job.id, type: 'noop' }] })).status).toBe(409);
  });

  it("keeps a flow and its nodes to the caller's tenant", async () => {
    const { body: flow } = await submitFlow({
      type: 'noop',
      children: [{ type: 'echo', data: { secret: 1 } }],
    });
    await waitForStatus(get, flow.id, ['completed']);
    const { key } = await p.keys.create({ tenant: 'other', name: 'other', scopes: ['admin'] });
    const asOther = (path: string) => p.app.request(path, withKey(key));
    expect((await asOther(`/v1/flows/${flow.id}`)).status).toBe(404);
    expect((await asOther(`/v1/jobs/${flow.nodes[1]?.id}`)).status).toBe(404);
    // The same root id in another tenant is another flow.
    const mine = await p.app.request(
      '/v1/flows',
      withKey(key, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: flow.id, type: 'noop', children: [{ type: 'noop' }] }),
      }),
    );
    expect(mine.status).toBe(202);
    expect(((await (await asOther(`/v1/flows/${flow.id}`)).json()) as FlowView).nodes).toHaveLength(2);
    // Tenant default's flow of that id is unchanged: still its own two nodes, completed.
    const own = (await (await get(`/v1/flows/${flow.id}`)).json()) as FlowView;
    expect(own.nodes.map((n) => n.type)).toEqual(['noop', 'echo']);
  });
});

describe('a flow as a whole', () => {
  it('cancels every unfinished node, children first; the parent never runs', async () => {
    const { body: flow } = await submitFlow({
      type: 'flow.collect',
      children: [
        { type: 'sleep', data: { ms: 30_000 } },
        { type: 'noop', delayMs: 600_000 },
        { type: 'echo', data: { quick: true } },
      ],
    });
    const [root, running, delayed, quick] = flow.nodes as [FlowNode, FlowNode, FlowNode, FlowNode];
    await waitForStatus(get, running.id, ['active']);
    await waitForStatus(get, quick.id, ['completed']);
    const cancel = await p.request(`/v1/flows/${flow.id}/cancel`, { method: 'POST' });
    expect(cancel.status).toBe(200);
    const after = (await cancel.json()) as FlowView;
    expect(after.nodes.map((n) => [n.id, n.status])).toEqual([
      [root.id, 'cancelled'],
      [running.id, 'cancelled'],
      [delayed.id, 'cancelled'],
      [quick.id, 'completed'],
    ]);
    // The running child's handler was aborted: BullMQ has no active job of the flow left.
    await expect.poll(() => p.queues.get('default').getActiveCount(), { timeout: 5_000 }).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const rows = await rowsOf([root.id, running.id, delayed.id]);
    expect(rows.map((r) => r.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    expect(rows.find((r) => r.id === root.id)?.runs).toBe(0);
    expect(((await (await get(`/v1/flows/${flow.id}`)).json()) as FlowView).status).toBe('cancelled');
    expect((await p.request(`/v1/flows/${flow.id}/cancel`, { method: 'POST' })).status).toBe(409);
  });

  it('retries only the failed nodes and what waits on them; the completed ones are not run again', async () => {
    downstream.down = true;
    const { body: flow } = await submitFlow({
      type: 'flow.collect',
      children: [
        {
          type: 'flow.collect',
          children: [{ type: 'flow.downstream' }, { type: 'echo', data: { kept: 1 } }],
        },
        { type: 'echo', data: { kept: 2 } },
      ],
    });
    const [root, mid, down, kept1, kept2] = flow.nodes as [FlowNode, FlowNode, FlowNode, FlowNode, FlowNode];
    const failed = await waitForStatus(get, root.id, ['failed', 'completed']);
    expect(failed.error?.code).toBe('CHILD_FAILED');
    const beforeRetry = await rowsOf([kept1.id, kept2.id]);

    downstream.down = false;
    const retried = await p.request(`/v1/flows/${flow.id}/retry`, { method: 'POST' });
    expect(retried.status, await retried.clone().text()).toBe(200);
    const queued = (await retried.json()) as FlowView;
    // Run again (the worker may already be at it), the completed leaves as they were.
    expect(queued.nodes.slice(0, 3).every((n) => n.status !== 'failed')).toBe(true);
    expect(queued.nodes.slice(3).map((n) => n.status)).toEqual(['completed', 'completed']);
    const done = await waitForStatus(get, root.id, ['completed', 'failed']);
    expect(done.status).toBe('completed');
    // The root saw all of its children completed: the retried middle node, and the echo that
    // was not run again.
    const seen = (done.result as { children: { id: string; status: string }[] }).children;
    expect(seen.map((c) => [c.id, c.status])).toEqual([
      [mid.id, 'completed'],
      [kept2.id, 'completed'],
    ]);
    const rows = await rowsOf([down.id, kept1.id, kept2.id]);
    const generation = await p.database.sql<{ id: string; generation: number; attempts: number }[]>`
      select id, generation, attempts from jobs where tenant = 'default' and id = any(${[root.id, mid.id, down.id, kept1.id, kept2.id]})`;
    const byId = new Map(generation.map((r) => [r.id, r]));
    expect([root.id, mid.id, down.id].map((id) => byId.get(id)?.generation)).toEqual([1, 1, 1]);
    expect([kept1.id, kept2.id].map((id) => byId.get(id)?.generation)).toEqual([0, 0]);
    // Attempt numbers continue across the retry.
    expect(byId.get(down.id)?.attempts).toBe(2);
    // The completed leaves were not run again: their rows are the ones from before.
    for (const before of beforeRetry) {
      const now = rows.find((r) => r.id === before.id);
      expect(new Date(now?.finished_at ?? 0).getTime()).toBe(new Date(before.finished_at).getTime());
    }
    const tree = (await (await get(`/v1/flows/${flow.id}`)).json()) as FlowView;
    expect(tree.nodes.every((n) => n.status === 'completed')).toBe(true);
    expect((await p.request(`/v1/flows/${flow.id}/retry`, { method: 'POST' })).status).toBe(409);
    // A node alone cannot be retried: it would run outside its flow.
    expect((await p.request(`/v1/jobs/${down.id}/retry`, { method: 'POST' })).status).toBe(409);
  });

  it("streams every node of a flow: the snapshot first, each node's events, closed when the root ends", async () => {
    const { body: flow } = await submitFlow({
      type: 'flow.collect',
      children: [
        { type: 'sleep', data: { ms: 300 } },
        { type: 'echo', data: { n: 1 } },
      ],
    });
    const response = await p.request(`/v1/flows/${flow.id}/events`);
    expect(response.status).toBe(200);
    // Read to the end: the stream closes by itself after the root's terminal event.
    const text = await response.text();
    const events = [...text.matchAll(/^event: (\w+)\ndata: (.*)$/gm)].map((m) => ({
      event: m[1],
      data: JSON.parse(m[2] ?? '{}') as { jobId?: string; status?: string; nodes?: unknown[] },
    }));
    expect(events[0]?.event).toBe('snapshot');
    expect(events[0]?.data.nodes).toHaveLength(3);
    const completed = events
      .filter((e) => e.event === 'status' && e.data.status === 'completed')
      .map((e) => e.data.jobId);
    expect(new Set(completed)).toEqual(new Set(flow.nodes.map((n) => n.id)));
    expect(events.at(-1)?.data).toMatchObject({ jobId: flow.id, status: 'completed' });
    expect((await get(`/v1/flows/${randomUUID()}/events`)).status).toBe(404);
  });
});
