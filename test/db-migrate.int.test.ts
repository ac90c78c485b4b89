import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { databaseUrl, dropDatabase } from '@conveyor/dev';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

// The README's `npm run db:migrate`, run as a user would, against an empty database.

const root = fileURLToPath(new URL('../', import.meta.url));
const adminUrl = inject('adminDatabaseUrl');
const name = `conveyor_migrate_${randomBytes(4).toString('hex')}`;
const url = databaseUrl(adminUrl, name);

function migrate(env: Record<string, string>) {
  const { REDIS_URL: _, DATABASE_URL: __, ...rest } = process.env;
  return spawnSync('npm', ['run', '--silent', 'db:migrate'], {
    cwd: root,
    env: { ...rest, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
}

beforeAll(async () => {
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await sql`create database ${sql(name)}`;
  await sql.end();
});
afterAll(() => dropDatabase(adminUrl, name));

describe('npm run db:migrate', { timeout: 120_000 }, () => {
  it('applies every migration to DATABASE_URL, and again is a no-op', async () => {
    for (let run = 0; run < 2; run++) {
      const result = migrate({ DATABASE_URL: url });
      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout).toContain('conveyor: database migrated');
    }
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const tables = await sql<{ name: string }[]>`
        select table_name as name from information_schema.tables where table_schema = 'public'`;
      expect(tables.map((t) => t.name)).toEqual(
        expect.arrayContaining(['jobs', 'api_keys', 'schedules', 'webhooks', 'job_types']),
      );
    } finally {
      await sql.end();
    }
  });

  it('stops with exit code 1 and a message naming DATABASE_URL when it is not a Postgres URL', () => {
    const result = migrate({ DATABASE_URL: 'mysql://nope' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('DATABASE_URL');
  });
});
