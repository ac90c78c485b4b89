import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { defineJob } from './index.js';
import { createJobRegistry } from './job-registry.js';
import { submitJobBody } from './submit.js';

const resize = defineJob({
  name: 'acme.resize',
  description: 'Resizes.',
  queue: 'images',
  input: v.object({ width: v.number() }),
});
const ping = defineJob({ name: 'acme.ping', description: 'Pings.', input: v.unknown() });

describe('job registry', () => {
  it('holds the given types and their queues, from an array or an object', () => {
    for (const registry of [createJobRegistry([resize, ping]), createJobRegistry({ resize, ping })]) {
      expect(registry.names()).toEqual(['acme.ping', 'acme.resize']);
      expect(registry.queues()).toEqual(['default', 'images']);
      expect(registry.get('acme.resize')).toBe(resize);
      expect(registry.get('test.fail')).toBeUndefined();
    }
  });

  it('refuses two definitions of one name, naming it', () => {
    const again = defineJob({ name: 'acme.ping', description: 'Another.', input: v.string() });
    expect(() => createJobRegistry([ping, resize, again])).toThrow('job type "acme.ping" is defined twice');
  });

  it('gives a queue the limits its types declare, and refuses two types of a queue that disagree', () => {
    const limits = { rateLimit: { max: 100, durationMs: 60_000 } };
    const partner = (name: string, queueLimits: typeof limits | { concurrency: number }) =>
      defineJob({ name, description: '', queue: 'partner', input: v.unknown(), queueLimits });
    const registry = createJobRegistry([resize, partner('acme.a', limits), partner('acme.b', limits)]);
    expect(registry.declaredLimits('partner')).toEqual(limits);
    expect(registry.declaredLimits('images')).toBeUndefined();
    expect(() =>
      createJobRegistry([partner('acme.a', limits), partner('acme.b', { concurrency: 2 })]),
    ).toThrow(/job types "acme.a" and "acme.b" declare different queueLimits for queue "partner"/);
  });
});

describe('submit body', () => {
  it('rejects unknown fields, non-UUID ids and out-of-range options', () => {
    const result = v.safeParse(submitJobBody, {
      type: 'noop',
      id: 'not-a-uuid',
      priority: 0,
      delayMs: -5,
      colour: 'blue',
    });
    expect(result.success).toBe(false);
    const paths = (result.issues ?? []).map((i) => v.getDotPath(i));
    expect(paths).toEqual(expect.arrayContaining(['id', 'priority', 'delayMs', 'colour']));
  });

  it('accepts a minimal body', () => {
    expect(v.safeParse(submitJobBody, { type: 'noop' }).success).toBe(true);
  });
});
