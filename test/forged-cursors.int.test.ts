import { randomBytes, randomUUID } from 'node:crypto';
import { webhookDeliveries } from '@conveyor/core/db';
import type { WebhookView } from '@conveyor/core/webhooks';
import { useTestServices } from '@conveyor/dev/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipeline, type Pipeline, postJson, waitForStatus, withKey } from './harness.js';

/**
 * Cursors a client made up rather than got from a page: each is refused with a 400 naming
 * `cursor`, or answers a page whose nextCursor is past it, so following them always ends.
 */
const services = useTestServices();
let p: Pipeline;
/** An admin key of a tenant of this file only. */
let key: string;
let hookId: string;
const as = (path: string) => p.app.request(path, withKey(key));
const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

beforeAll(async () => {
  p = await createPipeline(services);
  key = (await p.keys.create({ tenant: 'forge', name: 'forge', scopes: ['admin'] })).key;
  const submit = async (body: unknown) => {
    const response = await postJson(
      { request: (path, init) => p.app.request(path, withKey(key, init)) },
      '/v1/jobs',
      body,
    );
    expect(response.status).toBe(202);
    return ((await response.json()) as { id: string }).id;
  };
  p.startWorker();
  const done = [
    await submit({ type: 'noop' }),
    await submit({ type: 'noop' }),
    await submit({ type: 'noop' }),
  ];
  for (const id of done) await waitForStatus(as, id, ['completed']);
  await p.stopWorkers();
  await submit({ type: 'noop', delayMs: 600_000 });
  await submit({ type: 'noop', delayMs: 600_000 });

  for (let i = 0; i < 3; i++) {
    const response = await postJson(
      { request: (path, init) => p.app.request(path, withKey(key, init)) },
      '/v1/schedules',
      { name: `s${i}`, type: 'noop', cron: '0 0 1 1 *', paused: true },
    );
    expect(response.status).toBe(201);
  }
  const hook = await postJson(
    { request: (path, init) => p.app.request(path, withKey(key, init)) },
    '/v1/webhooks',
    { url: 'http://127.0.0.1:9/hook' },
  );
  expect(hook.status).toBe(201);
  hookId = ((await hook.json()) as WebhookView).id;
  for (let i = 0; i < 3; i++) {
    await p.database.db.insert(webhookDeliveries).values({
      id: randomUUID(),
      tenant: 'forge',
      webhookId: hookId,
      jobId: randomUUID(),
      url: 'http://127.0.0.1:9/hook',
      event: {},
      status: 'delivered',
    });
  }
});
afterAll(() => p.close());

const future = '9999-12-31T23:59:59.999Z';
const past = '1970-01-01T00:00:00.000Z';
/** Forgeries of every cursor kind, and things that are no cursor at all. */
const forged = [
  b64({ t: future, i: randomUUID() }),
  b64({ t: past, i: '00000000-0000-0000-0000-000000000000' }),
  b64({ t: new Date().toISOString(), i: 'garbage' }),
  b64({ t: 0, i: randomUUID() }),
  b64({ t: '+275760-09-13T00:00:00.000Z', i: randomUUID() }),
  b64({ t: future, i: randomUUID(), extra: 1 }),
  b64({ p: 'h', t: future, i: randomUUID() }),
  b64({ p: 'h', t: past, i: randomUUID() }),
  b64({ p: 'h', t: 'tomorrow', i: randomUUID() }),
  b64({ p: 'q', q: -1, s: 0, o: 0 }),
  b64({ p: 'q', q: 99, s: 0, o: 0 }),
  b64({ p: 'q', q: 0, s: 99, o: 0 }),
  b64({ p: 'q', q: 0, s: 0, o: -5 }),
  b64({ p: 'q', q: 0, s: 0, o: 1_000_000 }),
  b64({ p: 'q', q: 0.5, s: 0, o: 0 }),
  b64({ p: 'q', o: -5 }),
  b64({ p: 'q', o: 0.5 }),
  b64({ p: 'q', o: 1_000_000 }),
  b64({ p: 'q', o: 2 ** 40 }),
  b64({ p: 'q', o: 0, extra: 1 }),
  b64('null'),
  b64('[]'),
  b64('"cursor"'),
  `${b64({ t: future, i: randomUUID() })}==`,
  ...Array.from({ length: 8 }, () => randomBytes(24).toString('base64url')),
];

/**
 * Follows `cursor` on `path` for up to 5 pages: each answer is a 400 naming `cursor`, or a
 * page whose nextCursor differs from the cursor it was asked with, and the chain ends.
 */
async function follow(path: string, start: string): Promise<void> {
  let cursor: string | null = start;
  for (let pages = 0; pages < 5 && cursor; pages++) {
    const response = await as(`${path}?limit=2&cursor=${encodeURIComponent(cursor)}`);
    const body = (await response.json()) as {
      nextCursor?: string | null;
      errors?: { path: string }[];
    };
    if (response.status === 400) {
      expect(
        body.errors?.map((e) => e.path),
        `${path} ${start}`,
      ).toContain('cursor');
      return;
    }
    expect(response.status, `${path} ${start}: ${JSON.stringify(body)}`).toBe(200);
    expect(body.nextCursor, `${path} ${start} page ${pages}`).not.toBe(cursor);
    cursor = body.nextCursor ?? null;
  }
  expect(cursor, `${path} from ${start} did not end within 5 pages`).toBeNull();
}

describe('forged cursors', () => {
  it('GET /v1/jobs refuses each with 400 or pages past it to the end', async () => {
    for (const cursor of forged) await follow('/v1/jobs', cursor);
  });

  it('GET /v1/schedules refuses each with 400 or pages past it to the end', async () => {
    for (const cursor of forged) await follow('/v1/schedules', cursor);
  });

  it('GET /v1/webhooks/:id/deliveries refuses each with 400 or pages past it to the end', async () => {
    for (const cursor of forged) await follow(`/v1/webhooks/${hookId}/deliveries`, cursor);
  });

  it('refuses a cursor of the former in-flight form, whose queue or state past the list used to hand itself back', async () => {
    for (const cursor of [b64({ p: 'q', q: -1, s: 0, o: 0 }), b64({ p: 'q', q: 0, s: 99, o: 0 })]) {
      const response = await as(`/v1/jobs?limit=2&cursor=${cursor}`);
      expect(response.status).toBe(400);
    }
  });

  it('still pages every job, schedule and delivery exactly once from the start', async () => {
    for (const [path, total] of [
      ['/v1/jobs', 5],
      ['/v1/schedules', 3],
      [`/v1/webhooks/${hookId}/deliveries`, 3],
    ] as const) {
      const ids: string[] = [];
      let cursor: string | null = null;
      for (let pages = 0; pages < 10; pages++) {
        const response = await as(`${path}?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(response.status).toBe(200);
        const body = (await response.json()) as { items: { id: string }[]; nextCursor: string | null };
        ids.push(...body.items.map((i) => i.id));
        cursor = body.nextCursor;
        if (!cursor) break;
      }
      expect(cursor, path).toBeNull();
      expect(new Set(ids).size, path).toBe(total);
      expect(ids, path).toHaveLength(total);
    }
  });
});
