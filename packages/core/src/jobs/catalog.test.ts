import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { createJobRegistry, jobCatalog } from './catalog.js';
import { submitJobBody } from './submit.js';

describe('job catalog', () => {
  it('registers the built-in types and their queues', () => {
    const registry = createJobRegistry();
    expect(registry.names()).toEqual(['echo', 'http.request', 'noop', 'sleep']);
    expect(registry.queues()).toEqual(['default', 'http']);
    expect(registry.get('test.fail')).toBeUndefined();
  });

  it('adds the failure-path types only when asked', () => {
    const registry = createJobRegistry({ testing: true });
    expect(registry.names()).toContain('test.fail');
    expect(registry.names()).toContain('test.hang');
  });

  it('validates sleep input', () => {
    expect(v.safeParse(jobCatalog.sleep.input, { ms: 10 }).success).toBe(true);
    expect(v.safeParse(jobCatalog.sleep.input, { ms: 'x' }).success).toBe(false);
    expect(v.safeParse(jobCatalog.sleep.input, { ms: -1 }).success).toBe(false);
    expect(v.safeParse(jobCatalog.sleep.input, { ms: 10, extra: 1 }).success).toBe(false);
  });

  it('accepts only http(s) URLs and known methods for http.request, defaulting to GET', () => {
    const input = jobCatalog['http.request'].input;
    const ok = v.safeParse(input, { url: 'https://example.com/hook' });
    expect(ok.success && ok.output.method).toBe('GET');
    expect(v.safeParse(input, { url: 'file:///etc/passwd' }).success).toBe(false);
    expect(v.safeParse(input, { url: 'https://x.test', method: 'TRACE' }).success).toBe(false);
    expect(v.safeParse(input, { url: 'https://x.test', headers: { 'bad header': 'x' } }).success).toBe(false);
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
