import { useTestServices } from '@conveyor/dev/testing';
import { defineJob } from '@conveyor/sdk';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipeline, type Pipeline, type ServedApp, serveOnFreePort } from '../../../test/harness.js';
import { ConveyorApiError, createClient } from './client.js';
import type { FlowChild, FlowView } from './flows.js';

// A project's own definitions, as its worker runs them: the client takes its types from them.
const sleep = defineJob({
  name: 'sleep',
  description: 'Waits.',
  input: v.strictObject({ ms: v.number() }),
});
const fetchUrl = defineJob({
  name: 'acme.fetch',
  description: 'Fetches.',
  input: v.strictObject({ url: v.string(), method: v.optional(v.picklist(['GET', 'POST']), 'GET') }),
});
const jobs = [sleep, fetchUrl] as const;

/** Records requests and answers them; stands in for the network, not for Redis or Postgres. */
function recordingFetch(status: number, body: unknown) {
  const calls: { url: string; init: RequestInit }[] = [];
  const fetch = async (url: string | URL | Request, init: RequestInit = {}) => {
    calls.push({ url: String(url), init });
    return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  };
  return { calls, fetch: fetch as typeof globalThis.fetch };
}

describe('createClient', () => {
  it('sends typed submits with the key and the Idempotency-Key header', async () => {
    const { calls, fetch } = recordingFetch(202, { id: 'x', status: 'queued' });
    const client = createClient<typeof jobs>({ url: 'http://api.test/', apiKey: 'cvk_k', fetch });
    await client.submit('sleep', { ms: 10 }, { idempotencyKey: 'k1', priority: 1 });
    const [call] = calls;
    expect(call?.url).toBe('http://api.test/v1/jobs');
    expect(JSON.parse(String(call?.init.body))).toEqual({ type: 'sleep', data: { ms: 10 }, priority: 1 });
    expect(call?.init.headers).toMatchObject({ authorization: 'Bearer cvk_k', 'idempotency-key': 'k1' });
  });

  it('rejects compile-time mistakes (checked by tsc, which the test command runs first)', async () => {
    const { calls, fetch } = recordingFetch(202, { items: [] });
    const client = createClient<typeof jobs>({ url: 'http://api.test', fetch });
    const asObject = createClient<{ sleep: typeof sleep }>({ url: 'http://api.test', fetch });
    const untyped = createClient({ url: 'http://api.test', fetch });
    // Never called: each line must fail to compile, or `tsc -b` fails on the unused directive.
    const typeErrors = () => {
      // @ts-expect-error ms must be a number
      void client.submit('sleep', { ms: 'x' });
      // @ts-expect-error no such job type
      void client.submit('sleeep', { ms: 1 });
      // @ts-expect-error acme.fetch needs a url
      void client.submitBatch([{ type: 'acme.fetch', data: { method: 'GET' } }]);
      // @ts-expect-error only the object's types
      void asObject.submit('acme.fetch', { url: 'x' });
    };
    void typeErrors;
    // These compile (an input's defaults may be left out; an untyped client takes any name) and send what they say.
    await client.submitBatch([{ type: 'acme.fetch', data: { url: 'https://x.test' } }]);
    await asObject.submit('sleep', { ms: 1 });
    await untyped.submit('anything.at-all', { whatever: true });
    expect(calls.map((c) => [c.url, JSON.parse(String(c.init.body))])).toEqual([
      ['http://api.test/v1/jobs/batch', { jobs: [{ type: 'acme.fetch', data: { url: 'https://x.test' } }] }],
      ['http://api.test/v1/jobs', { type: 'sleep', data: { ms: 1 } }],
      ['http://api.test/v1/jobs', { type: 'anything.at-all', data: { whatever: true } }],
    ]);
  });

  it('turns a problem+json answer into a ConveyorApiError with its code', async () => {
    const { fetch } = recordingFetch(404, { status: 404, code: 'JOB_NOT_FOUND', detail: 'no job with id x' });
    const client = createClient({ url: 'http://api.test', fetch });
    const error = await client.get('x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConveyorApiError);
    expect(error).toMatchObject({ status: 404, code: 'JOB_NOT_FOUND', message: 'no job with id x' });
  });

  it('encodes list filters in the query string', async () => {
    const { calls, fetch } = recordingFetch(200, { items: [], nextCursor: null });
    await createClient({ url: 'http://api.test', fetch }).list({
      status: ['failed', 'cancelled'],
      limit: 10,
    });
    expect(calls[0]?.url).toBe('http://api.test/v1/jobs?status=failed%2Ccancelled&limit=10');
  });

  it("pages schedules and a webhook's deliveries with limit and cursor, encoded like list()", async () => {
    const { calls, fetch } = recordingFetch(200, { items: [], nextCursor: null });
    const client = createClient({ url: 'http://api.test', fetch });
    await client.schedules.list();
    await client.schedules.list({ limit: 2, cursor: 'eyJ0Ijo+/=' });
    await client.webhooks.deliveries('w1');
    await client.webhooks.deliveries('w1', { status: ['failed', 'pending'], limit: 5, cursor: 'c1' });
    expect(calls.map((c) => c.url)).toEqual([
      'http://api.test/v1/schedules',
      'http://api.test/v1/schedules?limit=2&cursor=eyJ0Ijo%2B%2F%3D',
      'http://api.test/v1/webhooks/w1/deliveries',
      'http://api.test/v1/webhooks/w1/deliveries?status=failed%2Cpending&limit=5&cursor=c1',
    ]);
  });

  it('types each flow node by its own type (checked by tsc) and sends the tree as written', async () => {
    const { calls, fetch } = recordingFetch(202, { id: 'f', status: 'queued', nodes: [] });
    const client = createClient<typeof jobs>({ url: 'http://api.test', fetch });
    const untyped = createClient({ url: 'http://api.test', fetch });
    // Never called: each line must fail to compile, or `tsc -b` fails on the unused directive.
    const typeErrors = () => {
      // @ts-expect-error the root's ms must be a number
      void client.submitFlow({ type: 'sleep', data: { ms: 'x' } });
      void client.submitFlow({
        type: 'sleep',
        data: { ms: 1 },
        // @ts-expect-error a child of type sleep has sleep's data, not acme.fetch's
        children: [{ type: 'sleep', data: { url: 'https://x.test' } }],
      });
      void client.submitFlow({
        type: 'sleep',
        data: { ms: 1 },
        children: [
          {
            type: 'acme.fetch',
            data: { url: 'https://x.test' },
            // @ts-expect-error a grandchild's data is checked too: acme.fetch needs a url
            children: [{ type: 'acme.fetch', data: { method: 'GET' } }],
          },
        ],
      });
      // @ts-expect-error no such job type
      void client.submitFlow({ type: 'sleeep', data: { ms: 1 } });
      // @ts-expect-error data is required when the type's input does not accept undefined
      void client.submitFlow({ type: 'sleep' });
      // @ts-expect-error onFailure is a child's only: it says what its failure does to its parent
      void client.submitFlow({ type: 'sleep', data: { ms: 1 }, onFailure: 'ignore' });
      // @ts-expect-error onFailure is one of fail, ignore, remove
      const badPolicy: FlowChild<typeof jobs> = { type: 'sleep', data: { ms: 1 }, onFailure: 'skip' };
      void badPolicy;
    };
    void typeErrors;
    // These compile: each child of any type with its own data (defaults left out), onFailure
    // on children, the job options on any node; an untyped client takes any tree.
    const tree = {
      type: 'acme.fetch',
      data: { url: 'https://x.test/report' },
      priority: 2,
      children: [
        { type: 'sleep', data: { ms: 5 }, onFailure: 'ignore' },
        {
          type: 'acme.fetch',
          data: { url: 'https://x.test/a', method: 'POST' },
          onFailure: 'remove',
          attempts: 2,
          children: [{ type: 'sleep', data: { ms: 1 } }],
        },
      ],
    } as const;
    await client.submitFlow(tree, { idempotencyKey: 'flow-1' });
    await untyped.submitFlow({
      type: 'any.type',
      children: [{ type: 'other', data: [1], onFailure: 'fail' }],
    });
    expect(calls[0]?.url).toBe('http://api.test/v1/flows');
    expect(calls[0]?.init).toMatchObject({ method: 'POST', headers: { 'idempotency-key': 'flow-1' } });
    expect(JSON.parse(String(calls[0]?.init.body))).toEqual(tree);
    expect(calls[1]?.init.headers).not.toHaveProperty('idempotency-key');
    expect(JSON.parse(String(calls[1]?.init.body))).toEqual({
      type: 'any.type',
      children: [{ type: 'other', data: [1], onFailure: 'fail' }],
    });
  });

  it('pauses a schedule with a PATCH and reads the signing secret', async () => {
    const { calls, fetch } = recordingFetch(200, { secret: 'whsec_x' });
    const client = createClient({ url: 'http://api.test', fetch });
    await client.schedules.pause('s1');
    expect(calls[0]).toMatchObject({ url: 'http://api.test/v1/schedules/s1', init: { method: 'PATCH' } });
    expect(JSON.parse(String(calls[0]?.init.body))).toEqual({ paused: true });
    expect(await client.webhooks.signingSecret()).toBe('whsec_x');
    expect(calls[1]?.url).toBe('http://api.test/v1/webhooks/signing-secret');
  });
});

// The built-in and testing types the harness's worker runs, as a project would declare them.
const echo = defineJob({ name: 'echo', description: 'Echoes.', input: v.unknown() });
const noop = defineJob({ name: 'noop', description: 'Nothing.', input: v.nullish(v.unknown()) });
const testFail = defineJob({
  name: 'test.fail',
  description: 'Fails.',
  input: v.strictObject({ message: v.optional(v.string()), unrecoverable: v.optional(v.boolean()) }),
});
const testFlaky = defineJob({
  name: 'test.flaky',
  description: 'Fails the first `failures` attempts.',
  input: v.strictObject({ failures: v.number() }),
});
const served = [sleep, echo, noop, testFail, testFlaky] as const;

describe('flows against a served API and a worker (Redis, Postgres)', () => {
  const services = useTestServices();
  let p: Pipeline;
  let api: ServedApp;
  const client = () => createClient<typeof served>({ url: api.url, apiKey: p.apiKey });

  beforeAll(async () => {
    p = await createPipeline(services);
    await p.startWorker().registered();
    api = await serveOnFreePort(p.app);
  });
  afterAll(async () => {
    await api?.close();
    await p?.close();
  });

  it("setQueueLimits sets and removes a queue's limits, which queues() then lists; clearQueueLimits drops them", async () => {
    const set = await client().setQueueLimits('default', {
      concurrency: 5,
      rateLimit: { max: 10, durationMs: 1_000 },
    });
    expect(set.limits).toEqual({ concurrency: 5, rateLimit: { max: 10, durationMs: 1_000 } });
    const listed = (await client().queues()).items.find((q) => q.name === 'default');
    expect(listed?.limits).toEqual(set.limits);
    expect((await client().setQueueLimits('default', { concurrency: null })).limits).toEqual({
      concurrency: null,
      rateLimit: { max: 10, durationMs: 1_000 },
    });
    await client().setQueueLimits('default', { rateLimit: null });
    expect(await p.queues.get('default').getGlobalRateLimit()).toBeNull();
    expect(listed?.limitsSetBy).toBe('operator');
    // Cleared: no job type of `default` declares limits, so it has none, set by nobody.
    const cleared = await client().clearQueueLimits('default');
    expect(cleared).toMatchObject({ limits: { concurrency: null, rateLimit: null }, limitsSetBy: null });
  });

  it('submitFlow answers the tree root first; waitForFlow resolves once the root completed, after its children', async () => {
    const conveyor = client();
    const submitted = await conveyor.submitFlow({
      type: 'echo',
      data: { step: 'publish' },
      children: [
        { type: 'sleep', data: { ms: 50 } },
        { type: 'echo', data: 'middle', children: [{ type: 'sleep', data: { ms: 20 } }] },
        { type: 'test.fail', data: { unrecoverable: true }, attempts: 1, onFailure: 'ignore' },
      ],
    });
    expect(submitted.status).toBe('queued');
    const rootId = submitted.id;
    expect(
      submitted.nodes.map((n) => [n.path, n.type, n.parentId === null ? null : n.parentId === rootId]),
    ).toEqual([
      ['', 'echo', null],
      ['children.0', 'sleep', true],
      ['children.1', 'echo', true],
      ['children.1.children.0', 'sleep', false],
      ['children.2', 'test.fail', true],
    ]);
    expect(submitted.nodes[3]?.parentId).toBe(submitted.nodes[2]?.id);
    expect(submitted.nodes.map((n) => n.onFailure)).toEqual(['fail', 'fail', 'fail', 'fail', 'ignore']);
    expect(submitted.links).toEqual({ self: `/v1/flows/${rootId}`, events: `/v1/flows/${rootId}/events` });

    const ended = await conveyor.waitForFlow(rootId, AbortSignal.timeout(20_000));
    expect(ended.status).toBe('completed');
    expect(ended.nodes.map((n) => n.status)).toEqual([
      'completed',
      'completed',
      'completed',
      'completed',
      'failed',
    ]);
    // The root ran last, and only once each child had ended.
    const jobsOf = await Promise.all(ended.nodes.map((n) => conveyor.get(n.id)));
    const [root, ...children] = jobsOf;
    expect(root).toMatchObject({ status: 'completed', result: { step: 'publish' } });
    for (const child of children) {
      expect(Date.parse(child.finishedAt ?? ''), child.type).toBeLessThanOrEqual(
        Date.parse(root?.startedAt ?? ''),
      );
    }
    expect(await conveyor.getFlow(rootId)).toEqual(ended);
  });

  it('waitForFlow resolves with a failed root (a child failed with onFailure fail); getFlow of an unknown id is FLOW_NOT_FOUND', async () => {
    const conveyor = client();
    const { id } = await conveyor.submitFlow({
      type: 'noop',
      children: [{ type: 'test.fail', data: { unrecoverable: true }, attempts: 1 }],
    });
    const ended = await conveyor.waitForFlow(id, AbortSignal.timeout(20_000));
    expect(ended.status).toBe('failed');
    expect(ended.nodes.map((n) => n.status)).toEqual(['failed', 'failed']);
    expect((await conveyor.get(id)).error?.code).toBe('CHILD_FAILED');
    const missing = await conveyor.getFlow('00000000-0000-4000-8000-000000000000').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ConveyorApiError);
    expect(missing).toMatchObject({ status: 404, code: 'FLOW_NOT_FOUND' });
  });

  it('an Idempotency-Key names the flow: the same submit again is the same flow, enqueued once', async () => {
    const conveyor = client();
    const tree = { type: 'echo', data: 1, children: [{ type: 'noop' }] } as const;
    const first = await conveyor.submitFlow(tree, { idempotencyKey: 'client-flow-key' });
    const again = await conveyor.submitFlow(tree, { idempotencyKey: 'client-flow-key' });
    expect(again.id).toBe(first.id);
    expect(again.nodes.map((n) => n.id)).toEqual(first.nodes.map((n) => n.id));
    const other = await conveyor.submitFlow(tree);
    expect(other.id).not.toBe(first.id);
    expect((await conveyor.waitForFlow(first.id)).status).toBe('completed');
    const conflict = await conveyor
      .submitFlow({ ...tree, data: 2 }, { idempotencyKey: 'client-flow-key' })
      .catch((e: unknown) => e);
    expect(conflict).toMatchObject({ status: 409, code: 'CONFLICT' });
  });

  it('waitForFlow stops when its signal aborts, rejecting with the reason; a rejected tree names the bad node', async () => {
    const conveyor = client();
    const { id } = await conveyor.submitFlow({
      type: 'noop',
      children: [{ type: 'sleep', data: { ms: 3_000 } }],
    });
    const started = Date.now();
    const waited = await conveyor.waitForFlow(id, AbortSignal.timeout(400)).catch((e: unknown) => e);
    expect(waited).toMatchObject({ name: 'TimeoutError' });
    expect(Date.now() - started).toBeLessThan(2_000);
    const flow: FlowView = await conveyor.getFlow(id);
    expect(flow.status).toBe('queued');
    // Past the types (as JSON from elsewhere would be): the API's 400 names the node's path.
    const bad = await createClient({ url: api.url, apiKey: p.apiKey })
      .submitFlow({ type: 'noop', children: [{ type: 'sleep', data: { ms: 'soon' } }] })
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ConveyorApiError);
    expect(bad).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
    expect((bad as ConveyorApiError).message).toContain('children.0.data.ms');
  });

  it('cancelFlow cancels every unfinished node; the flow then waits out as cancelled, and a second cancel is 409', async () => {
    const conveyor = client();
    const flow = await conveyor.submitFlow({
      type: 'noop',
      children: [{ type: 'sleep', data: { ms: 30_000 } }],
    });
    await expect
      .poll(async () => (await conveyor.getFlow(flow.id)).nodes[1]?.status, { timeout: 10_000 })
      .toBe('active');
    const cancelled = await conveyor.cancelFlow(flow.id);
    expect(cancelled.id).toBe(flow.id);
    expect(cancelled.nodes.map((n) => n.status)).toEqual(['cancelled', 'cancelled']);
    expect((await conveyor.waitForFlow(flow.id, AbortSignal.timeout(10_000))).status).toBe('cancelled');
    const again = await conveyor.cancelFlow(flow.id).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(ConveyorApiError);
    expect(again).toMatchObject({ status: 409, code: 'CONFLICT' });
  });

  it('retryFlow runs the failed nodes again and the root waiting on them; the flow then completes', async () => {
    const conveyor = client();
    const flow = await conveyor.submitFlow({
      type: 'echo',
      data: 'after the flaky one',
      children: [{ type: 'test.flaky', data: { failures: 1 }, attempts: 1 }],
    });
    const failed = await conveyor.waitForFlow(flow.id, AbortSignal.timeout(10_000));
    expect(failed.nodes.map((n) => n.status)).toEqual(['failed', 'failed']);
    const retried = await conveyor.retryFlow(flow.id);
    expect(retried.id).toBe(flow.id);
    expect(retried.nodes.every((n) => n.status !== 'failed')).toBe(true);
    const done = await conveyor.waitForFlow(flow.id, AbortSignal.timeout(10_000));
    expect(done.nodes.map((n) => n.status)).toEqual(['completed', 'completed']);
    expect(await conveyor.get(flow.nodes[1]?.id ?? '')).toMatchObject({ result: { attempt: 2 } });
    const again = await conveyor.retryFlow(flow.id).catch((e: unknown) => e);
    expect(again).toMatchObject({ status: 409, code: 'CONFLICT' });
  });

  it("watchFlow yields the flow's snapshot, then every node's events, and ends after the root's terminal one", async () => {
    const conveyor = client();
    const flow = await conveyor.submitFlow({
      type: 'echo',
      data: 'root',
      children: [
        { type: 'sleep', data: { ms: 300 } },
        { type: 'echo', data: 'leaf' },
      ],
    });
    const items = [];
    for await (const item of conveyor.watchFlow(flow.id, AbortSignal.timeout(10_000))) items.push(item);
    const [first, ...events] = items;
    expect(first?.kind === 'snapshot' && first.flow.nodes.map((n) => n.id)).toEqual(
      flow.nodes.map((n) => n.id),
    );
    const completed = events.flatMap((e) =>
      e.kind === 'event' && e.event.status === 'completed' ? [e.event.jobId] : [],
    );
    expect(new Set(completed)).toEqual(new Set(flow.nodes.map((n) => n.id)));
    expect(events.at(-1)).toMatchObject({ kind: 'event', event: { jobId: flow.id, status: 'completed' } });
    const missing = await (async () => {
      for await (const _ of conveyor.watchFlow('00000000-0000-4000-8000-000000000000')) break;
    })().catch((e: unknown) => e);
    expect(missing).toMatchObject({ status: 404, code: 'FLOW_NOT_FOUND' });
  });
});
