import { randomBytes } from 'node:crypto';
import { migrateDatabase } from '@conveyor/core/db';
import postgres from 'postgres';

/** `url` with its database replaced by `name`. */
export function databaseUrl(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

async function withAdmin<T>(adminUrl: string, run: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    return await run(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Creates (or re-creates) database `name`, migrated to the latest schema; returns its URL. */
export async function createTemplateDatabase(adminUrl: string, name: string): Promise<string> {
  await withAdmin(adminUrl, async (sql) => {
    await sql`drop database if exists ${sql(name)} with (force)`;
    await sql`create database ${sql(name)}`;
  });
  const url = databaseUrl(adminUrl, name);
  await migrateDatabase(url);
  return url;
}

/** Drops database `name` even if sessions are still connected. */
export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await withAdmin(adminUrl, (sql) => sql`drop database if exists ${sql(name)} with (force)`);
}

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/**
 * A fresh database cloned from `template` (CREATE DATABASE … TEMPLATE, a file copy: far
 * faster than migrating). Cloning needs the template to have no sessions, so a clone that
 * races another one is retried briefly.
 */
export async function createTestDatabase(adminUrl: string, template: string): Promise<TestDatabase> {
  const name = `conveyor_t_${randomBytes(6).toString('hex')}`;
  await withAdmin(adminUrl, async (sql) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await sql`create database ${sql(name)} template ${sql(template)}`;
        return;
      } catch (error) {
        const busy = error instanceof Error && /being accessed by other users/.test(error.message);
        if (!busy || attempt >= 50) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 100));
      }
    }
  });
  return { url: databaseUrl(adminUrl, name), name, drop: () => dropDatabase(adminUrl, name) };
}
