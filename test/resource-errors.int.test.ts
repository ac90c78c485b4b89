import { randomUUID } from 'node:crypto';
import { useTestServices } from '@conveyor/dev/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipeline, type Pipeline, postJson } from './harness.js';

// Issue 16: the same answer shapes for every resource addressed by id, and messages in plain words.

const services = useTestServices();
let p: Pipeline;

beforeAll(async () => {
  p = await createPipeline(services);
});
afterAll(() => p.close());

const send = (method: string, path: string, body?: unknown) =>
  p.request(path, {
    method,
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });

/** Every route that takes an id in its path, with a body it would accept. */
const routes: [method: string, path: (id: string) => string, body?: unknown][] = [
  ['GET', (id) => `/v1/jobs/${id}`],
  ['GET', (id) => `/v1/jobs/${id}/events`],
  ['POST', (id) => `/v1/jobs/${id}/cancel`],
  ['POST', (id) => `/v1/jobs/${id}/retry`],
  ['GET', (id) => `/v1/schedules/${id}`],
  ['PATCH', (id) => `/v1/schedules/${id}`, { paused: true }],
  ['DELETE', (id) => `/v1/schedules/${id}`],
  ['GET', (id) => `/v1/webhooks/${id}`],
  ['PATCH', (id) => `/v1/webhooks/${id}`, { description: 'x' }],
  ['DELETE', (id) => `/v1/webhooks/${id}`],
  ['GET', (id) => `/v1/webhooks/${id}/deliveries`],
  ['DELETE', (id) => `/v1/keys/${id}`],
];

const codeOf = (path: string) =>
  path.startsWith('/v1/jobs')
    ? 'JOB_NOT_FOUND'
    : path.startsWith('/v1/schedules')
      ? 'SCHEDULE_NOT_FOUND'
      : path.startsWith('/v1/webhooks')
        ? 'WEBHOOK_NOT_FOUND'
        : 'API_KEY_NOT_FOUND';

describe('ids in paths', () => {
  it.each(routes)(
    '%s %s: 400 naming `id` for a malformed id, 404 with the resource code for an unknown one',
    async (method, path, body) => {
      const malformed = await send(method, path('not-a-uuid'), body);
      expect(malformed.status, `${method} ${path('x')}`).toBe(400);
      expect(await malformed.json()).toMatchObject({
        code: 'VALIDATION_FAILED',
        errors: [{ path: 'id', message: 'must be a UUID' }],
      });
      const unknown = await send(method, path(randomUUID()), body);
      expect(unknown.status, `${method} ${path('x')}`).toBe(404);
      expect(await unknown.json()).toMatchObject({ code: codeOf(path(':id')) });
    },
  );

  it('names a missing queue QUEUE_NOT_FOUND and a missing route NOT_FOUND', async () => {
    expect(await (await send('POST', '/v1/queues/nope/pause')).json()).toMatchObject({
      status: 404,
      code: 'QUEUE_NOT_FOUND',
    });
    expect(await (await p.request('/v1/nothing-here')).json()).toMatchObject({
      status: 404,
      code: 'NOT_FOUND',
    });
  });
});

describe('validation messages', () => {
  it('say what is wrong in plain words: an unknown field, a missing one, a wrong type', async () => {
    const response = await postJson(p, '/v1/jobs', { type: 'sleep', data: { ms: 'soon' }, colour: 'red' });
    expect(response.status).toBe(400);
    const { errors, detail } = (await response.json()) as {
      errors: { path: string; message: string }[];
      detail: string;
    };
    expect(errors).toContainEqual({ path: 'colour', message: 'unknown field "colour"' });
    expect(detail).not.toMatch(/Expected never/);
    // data is checked against the registered JSON Schema: the same words for its fields.
    const data = await postJson(p, '/v1/jobs', { type: 'sleep', data: { ms: 5, extra: 1 } });
    expect(((await data.json()) as { errors: unknown[] }).errors).toContainEqual({
      path: 'data.extra',
      message: 'unknown field "extra"',
    });
    const schedule = await postJson(p, '/v1/schedules', { type: 'noop', everyMs: 'often' });
    const scheduleErrors = ((await schedule.json()) as { errors: { path: string; message: string }[] })
      .errors;
    expect(scheduleErrors).toContainEqual({ path: 'everyMs', message: 'must be number, not "often"' });
    const missing = await postJson(p, '/v1/webhooks', { description: 'no url' });
    expect(((await missing.json()) as { errors: unknown[] }).errors).toContainEqual({
      path: 'url',
      message: 'is required',
    });
  });
});
