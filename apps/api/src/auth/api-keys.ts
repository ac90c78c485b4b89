import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { type ApiKeyRow, apiKeys, type Database } from '@conveyor/core/db';
import { ConveyorError } from '@conveyor/core/errors';
import { and, eq, isNull } from 'drizzle-orm';
import { isScope, type Principal, type Scope } from './principal.js';

/** `cvk_` + 16 hex (public key id) + `_` + 43 base64url characters (256-bit secret). */
const KEY_FORMAT = /^cvk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** A new random API key; only its hash is ever stored. */
export function generateApiKey(): { key: string; keyId: string; secret: string } {
  const keyId = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { key: `cvk_${keyId}_${secret}`, keyId, secret };
}

export function parseApiKey(key: string): { keyId: string; secret: string } | undefined {
  const match = KEY_FORMAT.exec(key);
  return match?.[1] && match[2] ? { keyId: match[1], secret: match[2] } : undefined;
}

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url');
}

/** An API key as the admin routes show it: never its secret. */
export interface ApiKeyInfo {
  id: string;
  keyId: string;
  tenant: string;
  name: string;
  scopes: Scope[];
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
}

function info(row: ApiKeyRow): ApiKeyInfo {
  return {
    id: row.id,
    keyId: row.keyId,
    tenant: row.tenant,
    name: row.name,
    scopes: row.scopes.filter(isScope),
    createdAt: row.createdAt.toISOString(),
    expiresAt: row.expiresAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null,
  };
}

export interface NewApiKey {
  tenant: string;
  name: string;
  scopes: Scope[];
  expiresAt?: Date | undefined;
  /** A key to store instead of a fresh one (bootstrap from env). */
  key?: string | undefined;
}

export interface ApiKeyStore {
  /**
   * The principal of a valid, unrevoked, unexpired key; undefined otherwise. `maxAgeMs`
   * reads the key again when its cached lookup is older than that (open streams re-check
   * with half the cache TTL, so a revocation anywhere reaches them within one TTL).
   */
  authenticate(key: string, options?: { maxAgeMs?: number }): Promise<Principal | undefined>;
  /** How long a lookup is cached (AUTH_CACHE_TTL_MS). */
  readonly cacheTtlMs: number;
  /** Stores a key and returns it with its secret: the only time the secret is shown. */
  create(init: NewApiKey): Promise<ApiKeyInfo & { key: string }>;
  list(tenant: string): Promise<ApiKeyInfo[]>;
  /** Revokes a key of `tenant`; false when there is no such key. */
  revoke(tenant: string, id: string): Promise<boolean>;
}

/**
 * API keys in Postgres, with lookups cached for `cacheTtlMs` per process: a revoked key
 * stops working on every replica within that time.
 */
export function createApiKeyStore({
  database,
  cacheTtlMs = 5_000,
}: {
  database: Database;
  cacheTtlMs?: number;
}): ApiKeyStore {
  const cache = new Map<string, { row: ApiKeyRow | undefined; loadedAt: number }>();

  async function load(keyId: string, maxAgeMs: number): Promise<ApiKeyRow | undefined> {
    const cached = cache.get(keyId);
    if (cached && Date.now() - cached.loadedAt < Math.min(cacheTtlMs, maxAgeMs)) return cached.row;
    const row = await database.db.query.apiKeys.findFirst({ where: eq(apiKeys.keyId, keyId) });
    if (cache.size > 10_000) cache.clear();
    cache.set(keyId, { row, loadedAt: Date.now() });
    return row;
  }

  return {
    cacheTtlMs,
    async authenticate(key, { maxAgeMs = cacheTtlMs } = {}) {
      const parsed = parseApiKey(key);
      if (!parsed) return undefined;
      let row: ApiKeyRow | undefined;
      try {
        row = await load(parsed.keyId, maxAgeMs);
      } catch (error) {
        throw new ConveyorError('UNAVAILABLE', 'cannot check the API key: Postgres is unavailable', {
          cause: error,
          retryable: true,
        });
      }
      if (!row) return undefined;
      // Constant-time comparison of the hashes: no timing hints about the secret.
      const given = Buffer.from(hashSecret(parsed.secret));
      const stored = Buffer.from(row.secretHash);
      if (given.length !== stored.length || !timingSafeEqual(given, stored)) return undefined;
      if (row.revokedAt || (row.expiresAt && row.expiresAt.getTime() <= Date.now())) return undefined;
      return { tenant: row.tenant, scopes: new Set(row.scopes.filter(isScope)), subject: `key:${row.keyId}` };
    },

    async create({ tenant, name, scopes, expiresAt, key }) {
      const fresh = key === undefined ? generateApiKey() : undefined;
      const parsed = fresh ?? (key === undefined ? undefined : parseApiKey(key));
      if (!parsed)
        throw new ConveyorError('VALIDATION_FAILED', 'an API key must look like cvk_<16 hex>_<43 base64url>');
      const [row] = await database.db
        .insert(apiKeys)
        .values({
          id: randomUUID(),
          keyId: parsed.keyId,
          tenant,
          name,
          scopes,
          secretHash: hashSecret(parsed.secret),
          expiresAt: expiresAt ?? null,
        })
        .onConflictDoNothing({ target: apiKeys.keyId })
        .returning();
      const stored =
        row ?? (await database.db.query.apiKeys.findFirst({ where: eq(apiKeys.keyId, parsed.keyId) }));
      if (!stored) throw new Error('API key insert returned no row');
      return { ...info(stored), key: `cvk_${parsed.keyId}_${parsed.secret}` };
    },

    async list(tenant) {
      const rows = await database.db.query.apiKeys.findMany({ where: eq(apiKeys.tenant, tenant) });
      return rows.map(info);
    },

    async revoke(tenant, id) {
      const rows = await database.db
        .update(apiKeys)
        .set({ revokedAt: new Date() })
        .where(and(eq(apiKeys.id, id), eq(apiKeys.tenant, tenant), isNull(apiKeys.revokedAt)))
        .returning({ keyId: apiKeys.keyId });
      for (const r of rows) cache.delete(r.keyId);
      return rows.length > 0;
    },
  };
}
