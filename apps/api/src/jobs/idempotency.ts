import { createHash } from 'node:crypto';
import { ConveyorError } from '@conveyor/core/errors';
import { canonicalJson, nameUuid } from '@conveyor/core/jobs';

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
