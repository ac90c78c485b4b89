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
