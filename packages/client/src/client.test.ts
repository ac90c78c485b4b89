import { defineJob } from '@conveyor/sdk';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { ConveyorApiError, createClient } from './client.js';

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
