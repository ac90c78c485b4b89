import { isConveyorError } from '@conveyor/core/errors';
import { createAddressGuard } from '@conveyor/core/net';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { builtinJobs, httpRequestInput, sleep } from './index.js';

describe('built-in job types', () => {
  it('are noop, echo, sleep and http.request, each with its own run', () => {
    const jobs = builtinJobs();
    expect(jobs.map((j) => [j.name, j.queue])).toEqual([
      ['noop', 'default'],
      ['echo', 'default'],
      ['sleep', 'default'],
      ['http.request', 'http'],
    ]);
    for (const job of jobs) expect(typeof job.run, job.name).toBe('function');
  });

  it('validates sleep input', () => {
    expect(v.safeParse(sleep.input, { ms: 10 }).success).toBe(true);
    expect(v.safeParse(sleep.input, { ms: 'x' }).success).toBe(false);
    expect(v.safeParse(sleep.input, { ms: -1 }).success).toBe(false);
    expect(v.safeParse(sleep.input, { ms: 10, extra: 1 }).success).toBe(false);
  });

  it('accepts only http(s) URLs and known methods for http.request, defaulting to GET', () => {
    const ok = v.safeParse(httpRequestInput, { url: 'https://example.com/hook' });
    expect(ok.success && ok.output.method).toBe('GET');
    expect(v.safeParse(httpRequestInput, { url: 'file:///etc/passwd' }).success).toBe(false);
    expect(v.safeParse(httpRequestInput, { url: 'https://x.test', method: 'TRACE' }).success).toBe(false);
    expect(
      v.safeParse(httpRequestInput, { url: 'https://x.test', headers: { 'bad header': 'x' } }).success,
    ).toBe(false);
  });

  it('http.request refuses a private address unless the allowlist names it', async () => {
    const httpRequest = (guard?: ReturnType<typeof createAddressGuard>) => {
      const job = builtinJobs(guard ? { guard } : {}).find((j) => j.name === 'http.request');
      if (!job?.run) throw new Error('http.request has no run');
      return job.run.bind(job);
    };
    const ctx = { signal: new AbortController().signal } as Parameters<ReturnType<typeof httpRequest>>[1];
    const input = v.parse(httpRequestInput, { url: 'http://127.0.0.1:9/' });
    const code = (run: ReturnType<typeof httpRequest>) =>
      run(input, ctx).then(
        () => 'resolved',
        (error: unknown) => (isConveyorError(error) ? error.code : 'other'),
      );
    expect(await code(httpRequest())).toBe('TARGET_FORBIDDEN');
    // Allowed, it gets as far as connecting to port 9, where nothing listens.
    expect(await code(httpRequest(createAddressGuard(['127.0.0.1'])))).not.toBe('TARGET_FORBIDDEN');
  });
});
