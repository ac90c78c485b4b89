import { ConveyorError, type FieldIssue, isConveyorError } from '@conveyor/core/errors';
import type { AddressGuard } from '@conveyor/core/net';

/**
 * Whether the outbound guard would refuse every delivery to `url` (a webhook's, a job's
 * callbackUrl): an address it refuses written as an IP literal, or `localhost` (always
 * loopback). Asked at creation, so the mistake is a 400 then, not a failed delivery later.
 * Host names are resolved only when delivering (DNS may change in between), where the guard
 * checks them again.
 */
export function deliveryTargetIssue(
  guard: AddressGuard,
  url: string | undefined,
  path: string,
): FieldIssue | undefined {
  if (url === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined; // the body's schema names a malformed URL
  }
  const host = parsed.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  try {
    guard.assertAllowedUrl(parsed);
    if (host === 'localhost' || host.endsWith('.localhost')) guard.assertAllowedAddress('127.0.0.1', host);
    return undefined;
  } catch (error) {
    if (!isConveyorError(error, 'TARGET_FORBIDDEN')) throw error;
    return { path, message: error.message };
  }
}

/** Throws VALIDATION_FAILED naming `path` when the guard would refuse every delivery to `url`. */
export function assertDeliveryTarget(
  guard: AddressGuard,
  url: string | undefined,
  path: string,
  what: string,
): void {
  const issue = deliveryTargetIssue(guard, url, path);
  if (issue)
    throw new ConveyorError('VALIDATION_FAILED', `invalid ${what}: ${issue.message}`, { issues: [issue] });
}
