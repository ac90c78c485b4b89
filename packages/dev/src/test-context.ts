import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, inject } from 'vitest';
import { deleteKeys } from './delete-keys.js';
import { createTestDatabase, type TestDatabase } from './test-database.js';

export { deleteKeys } from './delete-keys.js';

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
