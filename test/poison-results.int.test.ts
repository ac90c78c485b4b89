import { randomUUID } from 'node:crypto';
import { jobOptions } from '@conveyor/core/jobs';
import { useTestServices } from '@conveyor/dev/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Handler } from '../apps/worker/src/index.js';
import { echo } from '../apps/worker/src/index.js';
import { createPipeline, type Pipeline, postJson, waitForStatus } from './harness.js';

const services = useTestServices();
let p: Pipeline;
const get = (path: string) => p.request(path);

/** A gate handlers wait on, so jobs end together (one result batch) or stay active together. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}
let current = gate();

/** What a handler (user code, a remote server's body) may return that Postgres cannot store. */
const results: Record<string, unknown> = {
  surrogate: { text: 'lone \ud800 surrogate' },
  nul: { text: 'a\u0000b' },
  key: { 'k\udc00': 1 },
};
const handlers: Record<string, Handler<never>> = {
  echo: async (input: unknown) => {
    await current.opened;
    const { kind } = input as { kind: string };
    if (kind === 'throws') throw new Error('the server answered: lone \ud800 and \u0000');
    return results[kind] ?? { kind };
  },
};

async function submit(kind: string): Promise<string> {
  const response = await postJson(p, '/v1/jobs', { type: 'echo', data: { kind } });
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

beforeAll(async () => {
  p = await createPipeline(services);
  await p.startWorker({ handlers, concurrency: 4 }).ready();
});
afterAll(() => p.close());

describe('a handler result Postgres cannot store', () => {
  it('ends its job failed with UNSTORABLE_RESULT within seconds, while an innocent job of the same batch completes, and frees the slots', async () => {
    const poison = {
      surrogate: await submit('surrogate'),
      nul: await submit('nul'),
      key: await submit('key'),
    };
    const innocent = await submit('innocent');
    for (const id of [...Object.values(poison), innocent]) await waitForStatus(get, id, ['active']);
    // Released together: their rows go in one INSERT, which Postgres refuses as a whole.
    const started = Date.now();
    current.open();

    const done = await waitForStatus(get, innocent, ['completed', 'failed'], 5_000);
    expect(done).toMatchObject({ status: 'completed', result: { kind: 'innocent' }, source: 'history' });
    const paths = { surrogate: 'result.text', nul: 'result.text', key: 'result.k\\udc00' };
    const kept = {
      surrogate: { text: 'lone \ufffd surrogate' },
      nul: { text: 'a\ufffdb' },
      key: { 'k\ufffd': 1 },
    };
    for (const [kind, id] of Object.entries(poison) as [keyof typeof poison, string][]) {
      const view = await waitForStatus(get, id, ['completed', 'failed'], 5_000);
      expect(view).toMatchObject({
        status: 'failed',
        source: 'history',
        result: kept[kind],
        error: { code: 'UNSTORABLE_RESULT', retryable: false },
      });
      expect(view.error?.message).toContain(`${paths[kind]} `);
    }
    expect(Date.now() - started).toBeLessThan(5_000);

    // Every slot is free again: four new jobs are active at once, then complete.
    current = gate();
    const next = await Promise.all(['a', 'b', 'c', 'd'].map(submit));
    for (const id of next) await waitForStatus(get, id, ['active'], 5_000);
    current.open();
    for (const id of next) {
      expect(await waitForStatus(get, id, ['completed', 'failed'], 5_000)).toMatchObject({
        status: 'completed',
      });
    }
  });

  it('keeps the code of a handler error whose message Postgres cannot store, with U+FFFD in place', async () => {
    const id = await submit('throws');
    expect(await waitForStatus(get, id, ['completed', 'failed'], 5_000)).toMatchObject({
      status: 'failed',
      source: 'history',
      error: { code: 'HANDLER_FAILED', message: 'the server answered: lone \ufffd and \ufffd' },
    });
  });

  it('cancels a queued job that an earlier release accepted with a lone surrogate in its data, storing U+FFFD', async () => {
    // Enqueued past the door, as a release before the door check could have.
    const id = randomUUID();
    const envelope = {
      v: 1,
      tenant: 'default',
      id,
      input: { text: 'lone \ud800' },
      metadata: { 'n\u0000te': 'x' },
      timeoutMs: 1_000,
      submittedAt: new Date().toISOString(),
    };
    const definition = echo;
    await p.queues
      .get('default')
      .add(
        'echo',
        envelope,
        jobOptions(definition, { tenant: 'default', id, timestamp: Date.now(), delay: 60_000 }),
      );
    const cancelled = await p.request(`/v1/jobs/${id}/cancel`, { method: 'POST' });
    expect(cancelled.status, await cancelled.clone().text()).toBe(200);
    expect(await waitForStatus(get, id, ['cancelled'], 5_000)).toMatchObject({
      data: { text: 'lone \ufffd' },
      metadata: { 'n\ufffdte': 'x' },
    });
  });
});
