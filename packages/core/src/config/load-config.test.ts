import { describe, expect, it } from 'vitest';
import { isConveyorError } from '../errors/index.js';
import { apiEnv, loadConfig, workerEnv } from './load-config.js';

function configError(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (isConveyorError(error, 'CONFIG_INVALID')) return error.message;
    throw error;
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('loadConfig', () => {
  it('applies the documented defaults to an empty environment', () => {
    const config = loadConfig(apiEnv, {});
    expect(config.PORT).toBe(3000);
    expect(config.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(config.BODY_LIMIT_BYTES).toBe(1_048_576);
    expect(config.MIGRATE_ON_START).toBe(false);
  });

  it('parses numbers, booleans and lists from strings', () => {
    const config = loadConfig(workerEnv, {
      WORKER_CONCURRENCY: ' 32 ',
      MIGRATE_ON_START: 'TRUE',
      WORKER_QUEUES: 'default, http',
    });
    expect(config.WORKER_CONCURRENCY).toBe(32);
    expect(config.MIGRATE_ON_START).toBe(true);
    expect(config.WORKER_QUEUES).toEqual(['default', 'http']);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig(apiEnv, { PORT: '' }).PORT).toBe(3000);
  });

  it('names every bad variable with what it got, in one message', () => {
    const message = configError(() =>
      loadConfig(apiEnv, { PORT: 'eighty', REDIS_URL: 'http://x', LOG_LEVEL: 'loud', BODY_LIMIT_BYTES: '5' }),
    );
    expect(message).toContain('PORT: must be an integer between 1 and 65535 (got "eighty")');
    expect(message).toContain(
      'REDIS_URL: must be a URL starting with redis:// or rediss:// (got "http://x")',
    );
    expect(message).toContain('LOG_LEVEL: must be one of');
    expect(message).toContain('BODY_LIMIT_BYTES: must be an integer between 1024');
    expect(message.split('\n')).toHaveLength(5);
  });

  it('keeps one result commit in flight unless told, and refuses 0 or more than 16', () => {
    expect(loadConfig(workerEnv, {}).RESULT_COMMITS_IN_FLIGHT).toBe(1);
    expect(loadConfig(workerEnv, { RESULT_COMMITS_IN_FLIGHT: '4' }).RESULT_COMMITS_IN_FLIGHT).toBe(4);
    for (const bad of ['0', '17']) {
      expect(configError(() => loadConfig(workerEnv, { RESULT_COMMITS_IN_FLIGHT: bad }))).toContain(
        `RESULT_COMMITS_IN_FLIGHT: must be an integer between 1 and 16 (got "${bad}")`,
      );
    }
  });

  it('rejects a queue list with a bad name', () => {
    expect(configError(() => loadConfig(workerEnv, { WORKER_QUEUES: 'default,Bad Queue' }))).toContain(
      'WORKER_QUEUES: must be a comma-separated list of queue names',
    );
  });

  it('ignores variables it does not know', () => {
    expect(() => loadConfig(apiEnv, { HOME: '/root', PATH: '/bin' })).not.toThrow();
  });
});
