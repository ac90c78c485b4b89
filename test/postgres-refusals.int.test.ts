import { randomUUID } from 'node:crypto';
import type { TickData } from '@conveyor/core/schedules';
import type { WebhookView } from '@conveyor/core/webhooks';
import { useTestServices } from '@conveyor/dev/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipeline, type Pipeline } from './harness.js';

const services = useTestServices();
let p: Pipeline;

const send = (method: string, path: string, body: unknown) =>
  p.request(path, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** A cursor shaped like the API's, with a time JavaScript holds but Postgres does not. */
const forgedCursor = Buffer.from(
  JSON.stringify({ t: new Date(8.64e15).toISOString(), i: randomUUID() }),
).toString('base64url');

/** Asserts a 400 problem+json that names the problem in words and shows no SQL. */
async function expectRefused(response: Response, words: RegExp): Promise<void> {
  const text = await response.text();
  expect(response.status, text).toBe(400);
  expect(response.headers.get('content-type')).toBe('application/problem+json');
  expect(response.headers.get('retry-after')).toBeNull();
  const problem = JSON.parse(text) as { code: string; detail: string };
  expect(problem.code).toBe('VALIDATION_FAILED');
  expect(problem.detail).toMatch(words);
  expect(text).not.toMatch(/insert|update|select|params|\$1/i);
}

beforeAll(async () => {
  p = await createPipeline(services);
});
afterAll(() => p.close());

describe('input Postgres refuses (SQLSTATE class 22)', () => {
  it('answers a webhook whose description holds NUL with 400, stores nothing and keeps an existing one unchanged', async () => {
    await expectRefused(
      await send('POST', '/v1/webhooks', { url: 'https://example.com/hook', description: 'a\u0000b' }),
      /NUL|U\+0000/,
    );
    expect(((await (await p.request('/v1/webhooks')).json()) as { items: WebhookView[] }).items).toEqual([]);

    const created = await send('POST', '/v1/webhooks', {
      url: 'https://example.com/hook',
      description: 'kept',
    });
    expect(created.status).toBe(201);
    const hook = (await created.json()) as WebhookView;
    await expectRefused(
      await send('PATCH', `/v1/webhooks/${hook.id}`, { description: '\u0000' }),
      /NUL|U\+0000/,
    );
    expect(await (await p.request(`/v1/webhooks/${hook.id}`)).json()).toMatchObject({ description: 'kept' });
  });

  it('answers a schedule whose name, data or metadata holds NUL with 400 and stores nothing, in Postgres or BullMQ', async () => {
    const base = { type: 'echo', cron: '0 0 1 1 *' };
    for (const bad of [
      { name: 'a\u0000b' },
      { data: { text: 'a\u0000b' } },
      { metadata: { note: '\u0000' } },
    ]) {
      await expectRefused(await send('POST', '/v1/schedules', { ...base, ...bad }), /NUL|U\+0000/);
    }
    expect(((await (await p.request('/v1/schedules')).json()) as { items: unknown[] }).items).toEqual([]);
    expect(await p.queues.internal<TickData>('schedules').getJobSchedulers()).toEqual([]);
  });

  it('answers a forged cursor holding a time Postgres cannot store with 400', async () => {
    // Refused by the strict cursor decoding now, before any query.
    await expectRefused(await p.request(`/v1/schedules?cursor=${forgedCursor}`), /cursor/i);
    const created = await send('POST', '/v1/webhooks', { url: 'https://example.com/other' });
    const hook = (await created.json()) as WebhookView;
    await expectRefused(
      await p.request(`/v1/webhooks/${hook.id}/deliveries?cursor=${forgedCursor}`),
      /cursor/i,
    );
  });
});
