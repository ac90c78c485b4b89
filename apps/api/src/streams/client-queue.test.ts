import { describe, expect, it } from 'vitest';
import { createClientQueue } from './client-queue.js';

describe('createClientQueue', () => {
  it('keeps 1,000 waiting items and closes, dropping them, at the 1,001st', async () => {
    const queue = createClientQueue<number>();
    const reasons: string[] = [];
    queue.onClose((reason) => reasons.push(reason));
    for (let i = 0; i < 1_000; i++) queue.push(i);
    expect(queue.closed).toBe(false);
    queue.push(1_000);
    expect(queue.closed).toBe(true);
    expect(reasons).toEqual(['client too slow: more than 1000 events waiting']);
    expect(await queue.next()).toBeUndefined();
  });

  it('hands an item straight to a waiting reader, so a reader that keeps up never fills it', async () => {
    const queue = createClientQueue<number>(1);
    for (let i = 0; i < 10; i++) {
      const next = queue.next();
      queue.push(i);
      expect(await next).toBe(i);
    }
    expect(queue.closed).toBe(false);
  });

  it('tells a listener added after the close at once', () => {
    const queue = createClientQueue<number>();
    queue.close('terminal');
    let told = '';
    queue.onClose((reason) => {
      told = reason;
    });
    expect(told).toBe('terminal');
  });
});
