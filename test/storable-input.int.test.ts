import { useTestServices } from '@conveyor/dev/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipeline, type Pipeline, postJson } from './harness.js';

const services = useTestServices();
let p: Pipeline;

beforeAll(async () => {
  p = await createPipeline(services);
});
afterAll(() => p.close());

interface Problem {
  code: string;
  detail: string;
  errors?: { path: string; message: string }[];
}

/** Asserts a 400 VALIDATION_FAILED whose one field issue names `path`. */
async function expectRefusedAt(response: Response, path: string): Promise<void> {
  const text = await response.text();
  expect(response.status, text).toBe(400);
  const problem = JSON.parse(text) as Problem;
  expect(problem.code).toBe('VALIDATION_FAILED');
  expect(problem.errors).toEqual([{ path, message: expect.stringMatching(/cannot be stored/) }]);
  expect(problem.detail).toContain(`${path}: `);
}

const LONE = 'lone \ud800 surrogate';

describe('values Postgres cannot store are refused at the door', () => {
  it('answers a job holding a lone surrogate or NUL in data, a metadata key or value, or callbackUrl with 400 naming the field, and enqueues nothing', async () => {
    const cases: [unknown, string][] = [
      [{ type: 'echo', data: LONE }, 'data'],
      [{ type: 'echo', data: { a: { b: LONE } } }, 'data.a.b'],
      [{ type: 'echo', data: { list: ['ok', '\udc00'] } }, 'data.list.1'],
      [{ type: 'echo', data: { text: 'a\u0000b' } }, 'data.text'],
      [{ type: 'echo', data: { 'k\ud800': 1 } }, 'data.k\\ud800'],
      [{ type: 'echo', data: {}, metadata: { note: LONE } }, 'metadata.note'],
      [{ type: 'echo', data: {}, metadata: { 'n\ud800te': 'x' } }, 'metadata.n\\ud800te'],
      [{ type: 'echo', data: {}, callbackUrl: `https://example.com/${LONE}` }, 'callbackUrl'],
    ];
    for (const [body, path] of cases) await expectRefusedAt(await postJson(p, '/v1/jobs', body), path);
    expect(await p.queues.get('default').count()).toBe(0);
  });

  it('names jobs.N.data… in a batch, and enqueues none of it', async () => {
    const response = await postJson(p, '/v1/jobs/batch', {
      jobs: [
        { type: 'echo', data: { text: 'fine' } },
        { type: 'echo', data: { nested: { text: LONE } } },
      ],
    });
    await expectRefusedAt(response, 'jobs.1.data.nested.text');
    expect(await p.queues.get('default').count()).toBe(0);
  });

  it('answers a schedule or webhook body holding a lone surrogate with 400 naming the field', async () => {
    await expectRefusedAt(
      await postJson(p, '/v1/schedules', { type: 'echo', cron: '0 0 1 1 *', name: LONE }),
      'name',
    );
    await expectRefusedAt(
      await postJson(p, '/v1/webhooks', { url: 'https://example.com/hook', description: LONE }),
      'description',
    );
  });

  it('answers a query parameter holding NUL with 400 naming it', async () => {
    await expectRefusedAt(await p.request('/v1/jobs?type=a%00b'), 'query.type.0');
    await expectRefusedAt(await p.request('/v1/schedules?cursor=%00'), 'query.cursor.0');
  });

  it('accepts valid surrogate pairs (emoji) and escaped text that only looks like NUL', async () => {
    const response = await postJson(p, '/v1/jobs', {
      type: 'echo',
      data: { text: '😀 \\u0000', '🔑': '\ud83d\ude00' },
      metadata: { note: '😀' },
    });
    expect(response.status, await response.clone().text()).toBe(202);
  });
});
