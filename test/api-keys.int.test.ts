import { randomBytes } from 'node:crypto';
import { createDatabase, type Database } from '@conveyor/core/db';
import { useTestServices } from '@conveyor/dev/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKeyStore, generateApiKey } from '../apps/api/src/auth/api-keys.js';
import { createPipeline, type Pipeline, postJson, withKey } from './harness.js';

/** API keys: failed authentication stays cheap for Postgres, and key fields are validated. */
const services = useTestServices();
let p: Pipeline;
/** Lookups of api_keys by the pipeline's pool: real queries, counted as postgres.js sends them. */
let lookups = 0;
const isKeyLookup = (query: string) => /^select .* from "api_keys"/is.test(query);

beforeAll(async () => {
  p = await createPipeline(services, {
    onQuery: (query) => {
      if (isKeyLookup(query)) lookups += 1;
    },
  });
});
afterAll(() => p.close());

/** A well-formed key whose key id is `keyId` and whose secret is fresh. */
const withSecret = (keyId: string) => `cvk_${keyId}_${randomBytes(32).toString('base64url')}`;

describe('failed authentication', () => {
  it('looks a bogus key id up in Postgres a handful of times for 500 requests, at once and one by one', async () => {
    const keyId = randomBytes(8).toString('hex');
    const before = lookups;
    const atOnce = await Promise.all(
      Array.from({ length: 250 }, () => p.app.request('/v1/jobs', withKey(withSecret(keyId)))),
    );
    for (let i = 0; i < 250; i++) {
      const response = await p.app.request('/v1/jobs', withKey(withSecret(keyId)));
      expect(response.status).toBe(401);
    }
    expect(atOnce.every((r) => r.status === 401)).toBe(true);
    expect(lookups - before).toBeGreaterThanOrEqual(1);
    expect(lookups - before).toBeLessThanOrEqual(3);
  });

  it('refuses malformed keys before any lookup', async () => {
    const before = lookups;
    const malformed = [
      'cvk_',
      'cvk_xyz_abc',
      `cvk_${'0'.repeat(15)}_${'A'.repeat(43)}`,
      `cvk_${'0'.repeat(16)}_${'A'.repeat(42)}`,
      `cvk_${'G'.repeat(16)}_${'A'.repeat(43)}`,
      `cvk_${'0'.repeat(16)}_${'A'.repeat(43)}x`,
      `cvk_${'0'.repeat(16)}-${'A'.repeat(43)}`,
    ];
    for (let i = 0; i < 100; i++) {
      for (const key of malformed) {
        const response = await p.app.request('/v1/jobs', withKey(key));
        expect(response.status, key).toBe(401);
      }
    }
    expect(lookups - before).toBe(0);
  });

  it('knows a key this process creates at once, though its id was tried and missed before', async () => {
    const { key } = generateApiKey();
    expect((await p.app.request('/v1/jobs', withKey(key))).status).toBe(401);
    await p.keys.create({ tenant: 'default', name: 'late', scopes: ['jobs:read'], key });
    expect((await p.app.request('/v1/jobs', withKey(key))).status).toBe(200);
  });

  it('knows a key another replica creates once the negative entry lapses', async () => {
    let replicaLookups = 0;
    const database: Database = createDatabase(services.databaseUrl, {
      max: 1,
      onQuery: (query) => {
        if (isKeyLookup(query)) replicaLookups += 1;
      },
    });
    try {
      const replica = createApiKeyStore({ database, cacheTtlMs: 5_000, negativeTtlMs: 300 });
      const { key } = generateApiKey();
      expect(await replica.authenticate(key)).toBeUndefined();
      // Created through the pipeline's store: a different process as far as `replica` knows.
      await p.keys.create({ tenant: 'default', name: 'elsewhere', scopes: ['jobs:read'], key });
      expect(await replica.authenticate(key), 'still remembered as unknown').toBeUndefined();
      expect(replicaLookups).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 350));
      expect(await replica.authenticate(key)).toMatchObject({ tenant: 'default' });
      expect(replicaLookups).toBe(2);
    } finally {
      await database.close();
    }
  });
});

describe('POST /v1/keys', () => {
  it('answers 400 naming `name` for a name with NUL, other control characters or a lone surrogate', async () => {
    for (const name of ['bad\u0000name', '\u0000', 'bell\u0007', 'line\nbreak', 'half \uD800 pair']) {
      const response = await postJson(p, '/v1/keys', { name, scopes: ['jobs:read'] });
      const body = (await response.json()) as { code: string; errors?: { path: string }[] };
      expect(response.status, JSON.stringify(name)).toBe(400);
      expect(body.code).toBe('VALIDATION_FAILED');
      expect(body.errors?.map((e) => e.path)).toEqual(['name']);
    }
    const fine = await postJson(p, '/v1/keys', { name: 'ci — déploiement 🚀', scopes: ['jobs:read'] });
    expect(fine.status).toBe(201);
  });
});
