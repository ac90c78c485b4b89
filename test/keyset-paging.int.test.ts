import { randomUUID } from 'node:crypto';
import { createClient } from '@conveyor/client';
import { webhookDeliveries } from '@conveyor/core/db';
import type { ScheduleView } from '@conveyor/core/schedules';
import type { DeliveryView, WebhookView } from '@conveyor/core/webhooks';
import { useTestServices } from '@conveyor/dev/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipeline, type Pipeline, postJson, withKey } from './harness.js';

const services = useTestServices();
let p: Pipeline;
/** An admin key of a tenant of this file only, so every list holds exactly what the test made. */
let key: string;

const as = (path: string, init: RequestInit = {}) => p.app.request(path, withKey(key, init));
/** The typed client, on the same key and app. */
const client = () =>
  createClient({
    url: 'http://api.test',
    apiKey: key,
    fetch: ((url: string, init?: RequestInit) => p.app.request(url, init)) as typeof fetch,
  });

/** Follows nextCursor from the first page to the last, at `limit` items a page. */
async function everyPage<T>(path: string, limit: number): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 50; pages++) {
    const response = await as(`${path}?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
    const body = (await response.json()) as { items: T[]; nextCursor: string | null };
    expect(response.status, JSON.stringify(body)).toBe(200);
    expect(body.items.length).toBeLessThanOrEqual(limit);
    items.push(...body.items);
    cursor = body.nextCursor;
    if (!cursor) return items;
  }
  throw new Error(`paging ${path} by ${limit} did not end after 50 pages (got ${items.length} items)`);
}

beforeAll(async () => {
  p = await createPipeline(services);
  key = (await p.keys.create({ tenant: 'paging', name: 'paging', scopes: ['admin'] })).key;
});
afterAll(() => p.close());

describe('keyset paging', () => {
  it('lists every schedule exactly once, oldest first, whatever the page size', async () => {
    const created: string[] = [];
    for (let i = 0; i < 5; i++) {
      const response = await as('/v1/schedules', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: `s${i}`, type: 'noop', cron: '0 0 1 1 *', paused: true }),
      });
      expect(response.status).toBe(201);
      created.push(((await response.json()) as ScheduleView).id);
    }
    for (const limit of [1, 2, 3, 5, 50]) {
      const listed = await everyPage<ScheduleView>('/v1/schedules', limit);
      expect(
        listed.map((s) => s.id),
        `limit=${limit}`,
      ).toEqual(created);
    }
    // The typed client pages the same way.
    const first = await client().schedules.list({ limit: 3 });
    const rest = await client().schedules.list({ cursor: first.nextCursor ?? '' });
    expect([...first.items, ...rest.items].map((s) => s.id)).toEqual(created);
    expect(rest.nextCursor).toBeNull();
  });

  it('lists every delivery of a webhook exactly once, newest first, also those recorded in the same millisecond', async () => {
    const response = await postJson({ request: as }, '/v1/webhooks', { url: 'http://127.0.0.1:9/hook' });
    expect(response.status).toBe(201);
    const hook = (await response.json()) as WebhookView;
    const row = () => ({
      id: randomUUID(),
      tenant: 'paging',
      webhookId: hook.id,
      jobId: randomUUID(),
      url: 'http://127.0.0.1:9/hook',
      event: {},
      status: 'delivered' as const,
    });
    // Workers record deliveries concurrently, so several can share a millisecond: one
    // statement makes that certain (one now() for every row); single ones follow.
    await p.database.db.insert(webhookDeliveries).values([row(), row(), row(), row()]);
    for (let i = 0; i < 3; i++) await p.database.db.insert(webhookDeliveries).values(row());

    const all = await everyPage<DeliveryView>(`/v1/webhooks/${hook.id}/deliveries`, 200);
    expect(all).toHaveLength(7);
    const newestFirst = [...all].sort(
      (a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || (a.id < b.id ? 1 : -1),
    );
    expect(all.map((d) => d.id)).toEqual(newestFirst.map((d) => d.id));
    for (const limit of [1, 2, 3]) {
      const listed = await everyPage<DeliveryView>(`/v1/webhooks/${hook.id}/deliveries`, limit);
      expect(
        listed.map((d) => d.id),
        `limit=${limit}`,
      ).toEqual(all.map((d) => d.id));
    }

    const viaClient: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await client().webhooks.deliveries(hook.id, { limit: 2, ...(cursor ? { cursor } : {}) });
      viaClient.push(...page.items.map((d) => d.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor && viaClient.length <= all.length);
    expect(viaClient, 'the typed client').toEqual(all.map((d) => d.id));
  });
});
