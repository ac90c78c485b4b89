import { createHash } from 'node:crypto';
import { ConveyorError } from '@conveyor/core/errors';
import { canonicalJson, nameUuid } from '@conveyor/core/jobs';
import type { RedisClient } from '@conveyor/core/redis';
import { orUnavailable } from './unavailable.js';

/** Idempotency-Key values: 1–255 visible ASCII characters. */
const KEY = /^[\x21-\x7e]{1,255}$/;

/** A fingerprint of a submit body, to tell a true repeat from a different request under the same key. */
export function requestHash(body: unknown): string {
  return createHash('sha256').update(canonicalJson(body)).digest('base64url');
}

/** Checks an Idempotency-Key header value. */
export function parseIdempotencyKey(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (!KEY.test(header)) {
    throw new ConveyorError(
      'VALIDATION_FAILED',
      'invalid Idempotency-Key header: must be 1-255 visible ASCII characters',
      {
        issues: [{ path: 'Idempotency-Key', message: 'must be 1-255 visible ASCII characters' }],
      },
    );
  }
  return header;
}

/**
 * The job id an Idempotency-Key stands for: a UUID (version 8, name-based) derived from
 * the tenant and the key, so every replica and every repeat maps the key to the same job.
 */
export function jobIdForKey(tenant: string, key: string): string {
  return nameUuid(tenant, key);
}

/**
 * Claims a client-chosen id for this request body: the first claim wins; a repeat with the
 * same body gets the original job; a different body under the same id is a 409.
 */
export function createIdempotencyClaims({
  redis,
  prefix,
  ttlSeconds,
}: {
  redis: RedisClient;
  prefix: string;
  /** How long a claim is held: IDEMPOTENCY_RETENTION_HOURS. */
  ttlSeconds: number;
}) {
  return async function claim(tenant: string, id: string, hash: string): Promise<boolean> {
    const key = `${prefix}:idempotency:${tenant}:${id}`;
    const claimed = await orUnavailable('Redis', () => redis.set(key, hash, 'EX', ttlSeconds, 'NX'));
    if (claimed === 'OK') return true;
    const stored = await orUnavailable('Redis', () => redis.get(key));
    if (stored !== null && stored !== hash) {
      throw new ConveyorError('CONFLICT', `job ${id} was already submitted with a different body`);
    }
    return false;
  };
}
