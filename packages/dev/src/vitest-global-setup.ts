import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { resolveServices } from './services.js';
import { createTemplateDatabase, dropDatabase } from './test-database.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Once per test run: Redis and Postgres (from REDIS_URL / DATABASE_URL, or private ones),
 * and a migrated template database every test file clones its own database from.
 */
// biome-ignore lint/style/noDefaultExport: vitest's globalSetup contract
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const services = await resolveServices({
    env: process.env,
    dataDir: `${repoRoot}.data/test-pg-${process.pid}`,
    log: (line) => console.log(`[test services] ${line}`),
  });
  const template = `conveyor_tpl_${process.pid}_${randomBytes(3).toString('hex')}`;
  try {
    await createTemplateDatabase(services.databaseUrl, template);
  } catch (error) {
    await services.stop();
    throw error;
  }
  project.provide('redisUrl', services.redisUrl);
  project.provide('adminDatabaseUrl', services.databaseUrl);
  project.provide('templateDatabase', template);
  return async () => {
    await dropDatabase(services.databaseUrl, template).catch(() => {});
    await services.stop();
  };
}
