import type { JobView } from '@conveyor/core/jobs';
import { useTestServices } from '@conveyor/dev/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipeline, type Pipeline, postJson, waitForStatus } from './harness.js';

const services = useTestServices();
let p: Pipeline;
const get = (path: string) => p.request(path);
const queuedIds: string[] = [];
const finishedIds: string[] = [];

async function page(query: string): Promise<{ items: JobView[]; nextCursor: string | null }> {
  const response = await get(`/v1/jobs?${query}`);
  expect(response.status).toBe(200);
  return (await response.json()) as { items: JobView[]; nextCursor: string | null };
}

async function all(query: string): Promise<JobView[]> {
  const items: JobView[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 100; pages++) {
    const result = await page(`${query}${cursor ? `&cursor=${cursor}` : ''}`);
    items.push(...result.items);
    cursor = result.nextCursor;
    if (!cursor) return items;
  }
  throw new Error('pagination did not end');
}

beforeAll(async () => {
  p = await createPipeline(services);
  p.startWorker();
  for (let i = 0; i < 13; i++) {
    const response = await postJson(p, '/v1/jobs', { type: 'echo', data: i });
    finishedIds.push(((await response.json()) as { id: string }).id);
  }
  await Promise.all(finishedIds.map((id) => waitForStatus(get, id, ['completed'])));
  for (let i = 0; i < 7; i++) {
    const response = await postJson(p, '/v1/jobs', { type: 'noop', delayMs: 600_000 });
    queuedIds.push(((await response.json()) as { id: string }).id);
  }
});
afterAll(() => p.close());

describe('GET /v1/jobs', () => {
  it('pages over more rows than one page and returns every job exactly once', async () => {
    const items = await all('limit=4');
    const ids = items.map((i) => i.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.sort()).toEqual([...queuedIds, ...finishedIds].sort());
  });

  it('lists in-flight jobs from the queue first, then finished ones from history, newest first', async () => {
    const items = await all('limit=6');
    const sources = items.map((i) => i.source);
    expect(sources.indexOf('history')).toBe(queuedIds.length);
    expect(sources.slice(queuedIds.length).every((s) => s === 'history')).toBe(true);
    const finishedTimes = items.filter((i) => i.source === 'history').map((i) => Date.parse(i.createdAt));
    expect([...finishedTimes].sort((a, b) => b - a)).toEqual(finishedTimes);
  });

  it('filters by status, type and creation time', async () => {
    const completed = await all('status=completed&limit=5');
    expect(completed.map((i) => i.id).sort()).toEqual([...finishedIds].sort());
    const queued = await all('status=queued');
    expect(queued.map((i) => i.id).sort()).toEqual([...queuedIds].sort());
    expect((await all('type=noop')).every((i) => i.type === 'noop')).toBe(true);
    expect(await all(`createdAfter=${new Date(Date.now() + 60_000).toISOString()}`)).toEqual([]);
  });

  it('rejects a bad limit, status or cursor with 400', async () => {
    for (const query of ['limit=501', 'limit=0', 'status=done', 'cursor=not-a-cursor', 'colour=blue']) {
      const response = await get(`/v1/jobs?${query}`);
      expect(response.status, query).toBe(400);
    }
  });
});
