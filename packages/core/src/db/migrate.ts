import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';

/**
 * The migrations: drizzle/ inside the installed package (`npm pack` copies it there), else
 * drizzle/ at the repository root (from packages/core/src/db and packages/core/dist/db alike).
 */
export const defaultMigrationsFolder = [
  new URL('../../drizzle', import.meta.url),
  new URL('../../../../drizzle', import.meta.url),
]
  .map((url) => fileURLToPath(url))
  .find((dir) => existsSync(`${dir}/meta/_journal.json`)) as string;

/** Arbitrary but fixed: every Conveyor process migrating this database takes the same lock. */
const MIGRATION_LOCK_ID = 7_302_418_551;

/**
 * Applies pending migrations. drizzle's migrate() takes no lock, so the whole run holds a
 * session advisory lock on a single connection: replicas starting together apply each
 * migration once, and the later ones find nothing to do.
 */
export async function migrateDatabase(
  url: string,
  migrationsFolder = defaultMigrationsFolder,
): Promise<void> {
  const client = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    await client`select pg_advisory_lock(${MIGRATION_LOCK_ID})`;
    try {
      await migrate(drizzle({ client, casing: 'snake_case' }), { migrationsFolder });
    } finally {
      await client`select pg_advisory_unlock(${MIGRATION_LOCK_ID})`;
    }
  } finally {
    await client.end({ timeout: 5 });
  }
}
