import { useTestServices } from '@conveyor/dev/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipeline, type Pipeline, postJson, waitForStatus, withKey } from './harness.js';

/** Finding jobs by their tags and metadata: in flight (Redis) and finished (Postgres), per tenant. */
const services = useTestServices();
let p: Pipeline;

const ids = async (path: string, key?: string) => {
  const response = key ? await p.app.request(path, withKey(key)) : await p.request(path);
  expect(response.status, await response.clone().text()).toBe(200);
  return ((await response.json()) as { items: { id: string }[] }).items.map((item) => item.id);
};
const submit = async (body: Record<string, unknown>) => {
  const response = await postJson(p, '/v1/jobs', body);
  expect(response.status, await response.clone().text()).toBe(202);
  return ((await response.json()) as { id: string }).id;
};

beforeAll(async () => {
  p = await createPipeline(services);
});
afterAll(() => p?.close());

describe('GET /v1/jobs by tag and metadata', () => {
  it("finds a customer's jobs by metadata and by tag, in flight and finished", async () => {
    const worker = p.startWorker();
    const done42 = await submit({ type: 'noop', metadata: { customer: 42 }, tags: ['customer:42', 'eu'] });
    const doneOther = await submit({ type: 'noop', metadata: { customer: 7 }, tags: ['customer:7', 'eu'] });
    const doneString = await submit({ type: 'noop', metadata: { customer: '42' } });
    for (const id of [done42, doneOther, doneString]) await waitForStatus(p.request, id, ['completed']);
    await p.stopWorkers([worker]);
    const queued42 = await submit({
      type: 'noop',
      metadata: { customer: 42, plan: 'pro' },
      tags: ['customer:42'],
    });

    // The number and the string it spells both match; another customer does not.
    expect(new Set(await ids('/v1/jobs?metadata.customer=42'))).toEqual(
      new Set([done42, doneString, queued42]),
    );
    expect(await ids('/v1/jobs?metadata.customer=42&metadata.plan=pro')).toEqual([queued42]);
    expect(await ids('/v1/jobs?metadata.customer=42&status=completed&tag=eu')).toEqual([done42]);
    expect(new Set(await ids('/v1/jobs?tag=customer:42'))).toEqual(new Set([done42, queued42]));
    expect(await ids('/v1/jobs?tag=customer:42,eu')).toEqual([done42]);
    expect(await ids('/v1/jobs?metadata.customer=nobody')).toEqual([]);
    const view = (await (await p.request(`/v1/jobs/${done42}`)).json()) as { tags: string[] };
    expect(view.tags).toEqual(['customer:42', 'eu']);

    // Another tenant with the same metadata sees only its own.
    const { key } = await p.keys.create({ tenant: 'other', name: 'other', scopes: ['admin'] });
    expect(await ids('/v1/jobs?metadata.customer=42', key)).toEqual([]);
  });

  it('refuses bad tags and filters with 400 naming the field', async () => {
    const badTags = [
      [['has space'], 'tags.0'],
      [Array.from({ length: 11 }, (_, i) => `t${i}`), 'tags'],
      [['a', 'a'], 'tags'],
      ['x', 'tags'],
    ] as const;
    for (const [tags, path] of badTags) {
      const response = await postJson(p, '/v1/jobs', { type: 'noop', tags });
      expect(response.status, JSON.stringify(tags)).toBe(400);
      const problem = (await response.json()) as { errors: { path: string }[] };
      expect(problem.errors.map((e) => e.path)).toContain(path);
    }
    for (const [query, path] of [
      ['metadata.=1', 'metadata.'],
      [`metadata.k=${'x'.repeat(1_025)}`, 'metadata.k'],
      ['tag=not%20ok', 'tag'],
      ['metadata.a=1&metadata.b=1&metadata.c=1&metadata.d=1&metadata.e=1&metadata.f=1', 'metadata'],
      ['label=x', 'label'],
    ] as const) {
      const response = await p.request(`/v1/jobs?${query}`);
      expect(response.status, query).toBe(400);
      const problem = (await response.json()) as { errors: { path: string }[] };
      expect(problem.errors.map((e) => e.path).join(','), query).toContain(path);
    }
  });
});
