import { ConveyorError, errorCodes } from '@conveyor/core/errors';
import { describe, expect, it } from 'vitest';
import { retryAfterSeconds, statusByCode, toProblem } from './problem.js';

describe('toProblem', () => {
  it('renders a ConveyorError with its code, status and field issues', () => {
    const error = new ConveyorError('VALIDATION_FAILED', 'invalid input: data.ms: bad', {
      issues: [{ path: 'data.ms', message: 'bad' }],
    });
    expect(toProblem(error, { instance: '/v1/jobs', requestId: 'r1' })).toEqual({
      type: 'about:blank',
      title: 'Bad Request',
      status: 400,
      detail: 'invalid input: data.ms: bad',
      code: 'VALIDATION_FAILED',
      instance: '/v1/jobs',
      requestId: 'r1',
      errors: [{ path: 'data.ms', message: 'bad' }],
    });
  });

  it('hides the message of an unexpected error behind INTERNAL', () => {
    const problem = toProblem(new Error('relation "jobs" does not exist at /srv/app.js:1'));
    expect(problem).toMatchObject({ status: 500, code: 'INTERNAL', detail: 'internal error' });
    expect(JSON.stringify(problem)).not.toContain('relation');
  });

  it('maps every client-side code to a 4xx and dependency failures to 503', () => {
    for (const code of [
      'VALIDATION_FAILED',
      'MALFORMED_JSON',
      'UNKNOWN_JOB_TYPE',
      'JOB_NOT_FOUND',
      'CONFLICT',
    ] as const) {
      expect(statusByCode[code]).toBeGreaterThanOrEqual(400);
      expect(statusByCode[code]).toBeLessThan(500);
    }
    expect(statusByCode.UNAVAILABLE).toBe(503);
    expect(Object.keys(statusByCode).sort()).toEqual([...errorCodes].sort());
  });

  it('keeps extension details such as the known types', () => {
    const error = new ConveyorError('UNKNOWN_JOB_TYPE', 'unknown', { details: { knownTypes: ['noop'] } });
    expect(toProblem(error).knownTypes).toEqual(['noop']);
  });

  it("gives every 429 and 503 a Retry-After, the error's own wait first, and no other answer one", () => {
    for (const code of errorCodes) {
      const wait = retryAfterSeconds(new ConveyorError(code, 'x'));
      const status = statusByCode[code];
      if (status === 429 || status === 503) expect(wait, code).toBeGreaterThanOrEqual(1);
      else expect(wait, code).toBeUndefined();
    }
    expect(retryAfterSeconds(new ConveyorError('RATE_LIMITED', 'x', { details: { retryAfter: 2.2 } }))).toBe(
      3,
    );
    expect(retryAfterSeconds(new Error('boom'))).toBeUndefined();
  });
});
