import { randomBytes } from 'node:crypto';

/**
 * A fresh API key in the form the API accepts (`cvk_<16 hex>_<43 base64url>`), for
 * BOOTSTRAP_ADMIN_KEY in dev, test, bench and soak runs. The API's own keys come from
 * `generateApiKey` in apps/api; this is the same form for processes that only pass one in.
 */
export function randomApiKey(): string {
  return `cvk_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;
}
