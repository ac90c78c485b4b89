import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, inject } from 'vitest';
import { createTestDatabase, type TestDatabase } from './test-database.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    adminDatabaseUrl: string;
    templateDatabase: string;
  }
}

export interface TestServices {
  redisUrl: string;
  /** A database of this test file only, cloned from the migrated template. */
  databaseUrl: string;
  /** A BullMQ prefix of this test file only. */
  prefix: string;
}

/** Deletes every key under `prefix:` (SCAN + UNLINK, never KEYS). */
export async function deleteKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1_000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/**
 * Call once at the top of a test file: its own database and BullMQ prefix, filled in
 * before its tests and removed after them.
 *
 * @example
 * const services = useTestServices();
 * beforeAll(() => { queue = new Queue('q', { connection, prefix: services.prefix }); });
 */
export function useTestServices(): TestServices {
  const services: TestServices = { redisUrl: inject('redisUrl'), databaseUrl: '', prefix: '' };
  let database: TestDatabase | undefined;
  beforeAll(async () => {
    database = await createTestDatabase(inject('adminDatabaseUrl'), inject('templateDatabase'));
    services.databaseUrl = database.url;
    services.prefix = `cvt-${randomBytes(4).toString('hex')}`;
  });
  afterAll(async () => {
    await deleteKeys(services.redisUrl, services.prefix);
    await database?.drop();
  });
  return services;
}
