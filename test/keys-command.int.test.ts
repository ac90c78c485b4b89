import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createDatabase, type Database } from '@conveyor/core/db';
import { useTestServices } from '@conveyor/dev/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKeyStore } from '../apps/api/src/index.js';

// The README's `npm run keys -- generate` and `npm run keys -- create --tenant acme --scopes admin`.

const services = useTestServices();
const root = fileURLToPath(new URL('../', import.meta.url));
let database: Database;

function keys(args: string[]) {
  const { REDIS_URL: _, ...rest } = process.env;
  return spawnSync('npm', ['run', '--silent', 'keys', '--', ...args], {
    cwd: root,
    env: { ...rest, DATABASE_URL: services.databaseUrl },
    encoding: 'utf8',
    timeout: 120_000,
  });
}

beforeAll(() => {
  database = createDatabase(services.databaseUrl, { max: 1 });
});
afterAll(() => database.close());

describe('npm run keys', { timeout: 120_000 }, () => {
  it('generates a key to set as BOOTSTRAP_ADMIN_KEY', () => {
    const result = keys(['generate']);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout.trim()).toMatch(/^cvk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  });

  it("creates a tenant's admin key straight in DATABASE_URL, which then authenticates", async () => {
    const result = keys(['create', '--tenant', 'acme', '--scopes', 'admin']);
    expect(result.status, result.stderr).toBe(0);
    const key = result.stdout.split('\n')[0]?.trim() ?? '';
    const principal = await createApiKeyStore({ database, cacheTtlMs: 0 }).authenticate(key);
    expect(principal?.tenant).toBe('acme');
    expect([...(principal?.scopes ?? [])]).toEqual(['admin']);
  });

  it('refuses an unknown scope with a failing exit code, naming it', () => {
    const result = keys(['create', '--tenant', 'acme', '--scopes', 'root']);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('unknown scopes: root');
  });
});
