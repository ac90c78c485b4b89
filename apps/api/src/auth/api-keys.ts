import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { type ApiKeyRow, apiKeys, type Database } from '@conveyor/core/db';
import { ConveyorError } from '@conveyor/core/errors';
import { and, eq, isNull } from 'drizzle-orm';
import * as v from 'valibot';
import { isScope, type Principal, type Scope } from './principal.js';

/** `cvk_` + 16 hex (public key id) + `_` + 43 base64url characters (256-bit secret). */
const KEY_FORMAT = /^cvk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** Printable text: no control characters (NUL included) and no lone UTF-16 surrogates, which Postgres cannot store. */
const PRINTABLE = /^[^\p{Cc}\p{Cs}]*$/u;

/** A key's name: 1-100 printable characters; checked by POST /v1/keys and the `keys` CLI. */
export const keyName = v.pipe(
  v.string(),
  v.minLength(1),
  v.maxLength(100),
  v.regex(PRINTABLE, 'must not contain control characters or lone surrogates'),
);

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
  /** A key to store instead of a fresh one (bootstrap from env); stored already (same tenant and secret), its scopes are set to `scopes`. */
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

/** Most key ids each cache holds; past it the oldest entry goes. */
const CACHE_ENTRIES = 10_000;

/** A Map that forgets its oldest entry past `CACHE_ENTRIES`, so a flood of ids cannot grow it. */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > CACHE_ENTRIES) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
}

/**
 * API keys in Postgres, with lookups cached for `cacheTtlMs` per process: a revoked key
 * stops working on every replica within that time. Failed authentication is kept cheap:
 * a malformed key is refused before any lookup; a key id Postgres does not know is
 * remembered as unknown for `negativeTtlMs` (its own bounded cache, so a flood of bogus ids
 * cannot push out the valid keys); concurrent lookups of one key id share one query; a key
 * created by this process is known at once.
 */
export function createApiKeyStore({
  database,
  cacheTtlMs = 5_000,
  negativeTtlMs = cacheTtlMs,
}: {
  database: Database;
  /** @defaultValue 5 s */
  cacheTtlMs?: number;
  /** How long a key id that is not in Postgres is answered 401 without a lookup. @defaultValue cacheTtlMs */
  negativeTtlMs?: number;
}): ApiKeyStore {
  /** Lookups by key id, with the time each was read. */
  const found = new Map<string, { row: ApiKeyRow; loadedAt: number }>();
  const unknown = new Map<string, number>();
  const pending = new Map<string, Promise<ApiKeyRow | undefined>>();

  async function query(keyId: string): Promise<ApiKeyRow | undefined> {
    const row = await database.db.query.apiKeys.findFirst({ where: eq(apiKeys.keyId, keyId) });
    if (row) {
      unknown.delete(keyId);
      if (cacheTtlMs > 0) remember(found, keyId, { row, loadedAt: Date.now() });
    } else if (negativeTtlMs > 0) {
      found.delete(keyId);
      remember(unknown, keyId, Date.now() + negativeTtlMs);
    }
    return row;
  }

  async function load(keyId: string, maxAgeMs: number): Promise<ApiKeyRow | undefined> {
    const now = Date.now();
    const cached = found.get(keyId);
    if (cached && now - cached.loadedAt < Math.min(cacheTtlMs, maxAgeMs)) return cached.row;
    const miss = unknown.get(keyId);
    if (miss !== undefined && miss > now) return undefined;
    let lookup = pending.get(keyId);
    if (!lookup) {
      lookup = query(keyId).finally(() => pending.delete(keyId));
      pending.set(keyId, lookup);
    }
    return lookup;
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
      const secretHash = hashSecret(parsed.secret);
      const insert = database.db.insert(apiKeys).values({
        id: randomUUID(),
        keyId: parsed.keyId,
        tenant,
        name,
        scopes,
        secretHash,
        expiresAt: expiresAt ?? null,
      });
      // A given key (BOOTSTRAP_ADMIN_KEY) stored before gets these scopes, so an upgrade that
      // widens them (operator) applies at the next start; a revocation stays.
      const [row] = await (fresh
        ? insert.onConflictDoNothing({ target: apiKeys.keyId })
        : insert.onConflictDoUpdate({
            target: apiKeys.keyId,
            set: { scopes },
            setWhere: and(eq(apiKeys.tenant, tenant), eq(apiKeys.secretHash, secretHash)),
          })
      ).returning();
      const stored =
        row ?? (await database.db.query.apiKeys.findFirst({ where: eq(apiKeys.keyId, parsed.keyId) }));
      if (!stored) throw new Error('API key insert returned no row');
      // A request may have tried this key id before it existed: it is known from now on.
      unknown.delete(parsed.keyId);
      found.delete(parsed.keyId);
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
      for (const r of rows) found.delete(r.keyId);
      return rows.length > 0;
    },
  };
}
