import { describe, expect, it } from 'vitest';
import { queueJobId } from './job-key.js';
import { logicalQueueName, partitionFor, partitionName, partitionNames } from './queue-partitions.js';

describe('queue partitions', () => {
  const partitions = new Map([['images', 4]]);

  it('names partition 0 after the queue and the others queue.i, and maps each back', () => {
    expect(partitionNames('images', partitions)).toEqual(['images', 'images.1', 'images.2', 'images.3']);
    expect(partitionNames('default', partitions)).toEqual(['default']);
    expect(partitionNames('images', partitions).map(logicalQueueName)).toEqual(Array(4).fill('images'));
    expect(logicalQueueName('my-queue')).toBe('my-queue');
    expect(partitionName('images', 0)).toBe('images');
  });

  it('puts a job in the same partition every time, and spreads jobs evenly', () => {
    const id = queueJobId('acme', '0b7e7f5e-8c1f-4a39-9d1e-6f0f0e6f2a11');
    expect(partitionFor('images', partitions, id)).toBe(partitionFor('images', partitions, id));
    expect(partitionFor('default', partitions, id)).toBe('default');
    const counts = new Map<string, number>();
    for (let n = 0; n < 8_000; n++) {
      const name = partitionFor('images', partitions, queueJobId('acme', `job-${n}`));
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual(['images', 'images.1', 'images.2', 'images.3']);
    for (const count of counts.values()) expect(Math.abs(count - 2_000)).toBeLessThan(200);
  });
});
