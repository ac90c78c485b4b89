import { randomBytes } from 'node:crypto';
import { deleteKeys } from './delete-keys.js';
import { randomApiKey } from './random-api-key.js';
import { resolveServices } from './services.js';
import { createTemplateDatabase, createTestDatabase, dropDatabase } from './test-database.js';

export interface IsolatedRun {
  redisUrl: string;
  /** A fresh, migrated database of this run only. */
  databaseUrl: string;
  /** A BullMQ prefix of this run only. */
  prefix: string;
  /** An admin key for BOOTSTRAP_ADMIN_KEY. */
  adminKey: string;
  /** Removes everything the run made: its keys, its database and template, private servers. */
  close(): Promise<void>;
}

/**
 * Redis, a fresh migrated database and a BullMQ prefix for one benchmark or soak run, on
 * REDIS_URL / DATABASE_URL or private servers (as the tests get them), left as it was found.
 *
 * @example
 * const run = await startIsolatedRun({ name: 'bench', env: process.env, dataDir: '.data/bench-pg' });
 * try { … } finally { await run.close(); }
 */
export async function startIsolatedRun({
  name,
  env,
  dataDir,
}: {
  name: string;
  env: Readonly<Record<string, string | undefined>>;
  dataDir: string;
}): Promise<IsolatedRun> {
  const services = await resolveServices({ env, dataDir });
  const template = `conveyor_${name}_tpl_${process.pid}`;
  try {
    await createTemplateDatabase(services.databaseUrl, template);
    const db = await createTestDatabase(services.databaseUrl, template);
    const prefix = `${name}-${randomBytes(3).toString('hex')}`;
    return {
      redisUrl: services.redisUrl,
      databaseUrl: db.url,
      prefix,
      adminKey: randomApiKey(),
      async close() {
        await deleteKeys(services.redisUrl, prefix).catch(() => {});
        await db.drop();
        await dropDatabase(services.databaseUrl, template);
        await services.stop();
      },
    };
  } catch (error) {
    await dropDatabase(services.databaseUrl, template).catch(() => {});
    await services.stop();
    throw error;
  }
}
