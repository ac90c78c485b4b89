import { describe, expect, it } from 'vitest';
import { createBatcher } from './batcher.js';

/** A commit that records its batches and can be held open, like a slow INSERT. */
function controllableCommit() {
  const batches: number[][] = [];
  const committed = new Set<number>();
  let release: (() => void) | undefined;
  let failNext = false;
  const commit = async (items: number[]) => {
    batches.push(items);
    await new Promise<void>((resolve) => {
      release = resolve;
    });
    if (failNext) {
      failNext = false;
      throw new Error('connection lost');
    }
    for (const i of items) committed.add(i);
  };
  return {
    commit,
    batches,
    committed,
    release: () => release?.(),
    failNextCommit: () => {
      failNext = true;
    },
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('createBatcher', () => {
  it('groups many concurrent items into few commits', async () => {
    const commits: number[] = [];
    const batcher = createBatcher<number>({
      maxBatchSize: 100,
      commit: async (items) => {
        commits.push(items.length);
        await new Promise((resolve) => setTimeout(resolve, 5));
      },
    });
    await Promise.all(Array.from({ length: 1_000 }, (_, i) => batcher.add(i)));
    expect(commits.reduce((a, b) => a + b, 0)).toBe(1_000);
    expect(commits.length).toBeLessThanOrEqual(11);
    expect(Math.max(...commits)).toBe(100);
  });

  it('resolves each waiter only after the commit holding its item', async () => {
    const c = controllableCommit();
    const batcher = createBatcher<number>({ maxBatchSize: 10, commit: c.commit });
    const resolved: number[] = [];
    const first = [1, 2, 3].map((i) => batcher.add(i).then(() => resolved.push(i)));
    await tick();
    const second = [4, 5].map((i) => batcher.add(i).then(() => resolved.push(i)));
    await tick();
    expect(c.batches).toEqual([[1, 2, 3]]);
    expect(resolved).toEqual([]);

    c.release();
    await Promise.all(first);
    expect(resolved.sort()).toEqual([1, 2, 3]);
    for (const i of resolved) expect(c.committed.has(i)).toBe(true);
    await tick();
    expect(c.batches).toEqual([
      [1, 2, 3],
      [4, 5],
    ]);
    expect(resolved).toHaveLength(3);

    c.release();
    await Promise.all(second);
    expect(resolved.sort()).toEqual([1, 2, 3, 4, 5]);
  });

  it('rejects every waiter of a failed commit and none of the next batch', async () => {
    const c = controllableCommit();
    const batcher = createBatcher<number>({ maxBatchSize: 10, commit: c.commit });
    c.failNextCommit();
    const failed = [1, 2].map((i) => batcher.add(i));
    await tick();
    const next = batcher.add(3);
    c.release();
    for (const p of failed) await expect(p).rejects.toThrow('connection lost');
    await tick();
    c.release();
    await expect(next).resolves.toBeUndefined();
    expect([...c.committed]).toEqual([3]);
  });

  it('drain waits for everything added so far', async () => {
    const c = controllableCommit();
    const batcher = createBatcher<number>({ maxBatchSize: 10, commit: c.commit });
    const added = batcher.add(1);
    let drained = false;
    const draining = batcher.drain().then(() => {
      drained = true;
    });
    await tick();
    expect(drained).toBe(false);
    c.release();
    await Promise.all([added, draining]);
    expect(drained).toBe(true);
  });

  it('runs up to maxInFlight commits at once, and each item resolves only with its own commit', async () => {
    const open: { items: number[]; release: () => void }[] = [];
    const batcher = createBatcher<number>({
      maxBatchSize: 10,
      maxInFlight: 2,
      commit: (items) =>
        new Promise<void>((resolve) => {
          open.push({ items, release: resolve });
        }),
    });
    const resolved: number[] = [];
    const track = (i: number) => batcher.add(i).then(() => resolved.push(i));
    const all = [track(1)];
    await tick();
    all.push(track(2), track(3));
    await tick();
    all.push(track(4));
    await tick();
    // Two commits run; 4 waits for one of them to end.
    expect(open.map((c) => c.items)).toEqual([[1], [2, 3]]);
    open[1]?.release();
    await tick();
    expect(resolved).toEqual([2, 3]);
    expect(open.map((c) => c.items)).toEqual([[1], [2, 3], [4]]);
    let drained = false;
    const draining = batcher.drain().then(() => {
      drained = true;
    });
    open[2]?.release();
    await tick();
    expect(resolved).toEqual([2, 3, 4]);
    expect(drained).toBe(false);
    open[0]?.release();
    await Promise.all([...all, draining]);
    expect(resolved).toEqual([2, 3, 4, 1]);
    expect(drained).toBe(true);
  });
});
