import { describe, expect, it } from 'vitest';
import { isConveyorError } from '../errors/index.js';
import { apiEnv, loadConfig, redisTarget, workerEnv } from './load-config.js';

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

  it('takes a Redis Cluster by its seed nodes, as host:port or redis[s]:// URLs', () => {
    const config = loadConfig(workerEnv, {
      REDIS_CLUSTER_NODES: '10.0.0.1:7000, redis://:secret@10.0.0.2:7001,rediss://[::1]:7002',
    });
    expect(config.REDIS_CLUSTER_NODES).toEqual([
      'redis://10.0.0.1:7000',
      'redis://:secret@10.0.0.2:7001',
      'rediss://[::1]:7002',
    ]);
    expect(redisTarget(config)).toEqual({ cluster: config.REDIS_CLUSTER_NODES });
    expect(redisTarget(loadConfig(workerEnv, { REDIS_URL: 'redis://r:6380' }))).toBe('redis://r:6380');
    expect(configError(() => loadConfig(apiEnv, { REDIS_CLUSTER_NODES: 'a:1,http://b:2' }))).toContain(
      'REDIS_CLUSTER_NODES: must be a comma-separated list of host:port or redis://',
    );
  });

  it('refuses a cluster next to REDIS_URL, or with a hash tag in QUEUE_PREFIX, naming both', () => {
    const message = configError(() =>
      loadConfig(apiEnv, {
        REDIS_CLUSTER_NODES: 'a:7000',
        REDIS_URL: 'redis://b:6379',
        QUEUE_PREFIX: '{conveyor}',
      }),
    );
    expect(message).toContain('REDIS_URL: must be unset when REDIS_CLUSTER_NODES is set');
    expect(message).toContain('QUEUE_PREFIX: must have no { } with REDIS_CLUSTER_NODES');
    expect(message).toContain('(got "{conveyor}")');
    // Without a cluster, a braced prefix is still one server's business.
    expect(loadConfig(apiEnv, { QUEUE_PREFIX: '{conveyor}' }).QUEUE_PREFIX).toBe('{conveyor}');
  });

  it('takes queue partitions as queue=count, and refuses bad counts, repeats and internal queues', () => {
    const config = loadConfig(workerEnv, { QUEUE_PARTITIONS: 'images=4, reports=2' });
    expect([...config.QUEUE_PARTITIONS]).toEqual([
      ['images', 4],
      ['reports', 2],
    ]);
    expect(loadConfig(apiEnv, {}).QUEUE_PARTITIONS.size).toBe(0);
    for (const bad of ['images=0', 'images=65', 'images', 'Images=2', 'images=2x']) {
      expect(configError(() => loadConfig(apiEnv, { QUEUE_PARTITIONS: bad }))).toContain(
        'QUEUE_PARTITIONS: must be a comma-separated list of queue=count, count 1 to 64',
      );
    }
    expect(configError(() => loadConfig(apiEnv, { QUEUE_PARTITIONS: 'a=2,a=3' }))).toContain(
      'QUEUE_PARTITIONS: must name each queue once',
    );
    expect(configError(() => loadConfig(apiEnv, { QUEUE_PARTITIONS: 'images=2,callbacks=4' }))).toContain(
      "QUEUE_PARTITIONS: must not name Conveyor's own queues (callbacks)",
    );
  });

  it('ignores variables it does not know', () => {
    expect(() => loadConfig(apiEnv, { HOME: '/root', PATH: '/bin' })).not.toThrow();
  });
});
