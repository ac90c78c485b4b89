import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The header that carries a delivery's signature: `t=<unix seconds>,v1=<hex HMAC-SHA256>`. */
export const SIGNATURE_HEADER = 'conveyor-signature';
/** The delivery's id: the same on every retry of it, so a receiver can drop repeats. */
export const DELIVERY_ID_HEADER = 'conveyor-delivery-id';
/** 1-based attempt number of this POST. */
export const ATTEMPT_HEADER = 'conveyor-attempt';

/** A new random signing secret (shown to its owner once). */
export function generateSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

/**
 * The signature header of one POST: an HMAC-SHA256, keyed with the secret, of
 * `${timestamp}.${body}`, so neither the body nor the time can be changed in transit.
 *
 * @example
 * signatureHeader(secret, JSON.stringify(event), Math.floor(Date.now() / 1000));
 * // 't=1795600000,v1=5f1c…'
 */
export function signatureHeader(secret: string, body: string, timestamp: number): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `t=${timestamp},v1=${mac}`;
}

/**
 * Checks a signature header against the raw body: true when it was made with `secret`
 * within `toleranceSeconds` of `now`. (The README shows the same check as plain Node code.)
 */
export function verifySignature(
  secret: string,
  header: string,
  body: string,
  { toleranceSeconds = 300, now = Date.now() }: { toleranceSeconds?: number; now?: number } = {},
): boolean {
  const parts = new Map(header.split(',').map((part) => part.split('=', 2) as [string, string]));
  const timestamp = Number(parts.get('t'));
  const given = Buffer.from(parts.get('v1') ?? '', 'hex');
  if (!Number.isInteger(timestamp) || Math.abs(now / 1000 - timestamp) > toleranceSeconds) return false;
  const expected = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}
