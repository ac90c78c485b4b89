import { ConveyorError } from '@conveyor/core/errors';
import type { MiddlewareHandler } from 'hono';
import type { ApiEnv } from '../api-env.js';
import type { ApiKeyStore } from './api-keys.js';
import type { JwtVerifier } from './jwt-verifier.js';
import { hasScope, type Scope } from './principal.js';

/**
 * The scope every /v1 route needs, in one table: reads need jobs:read, writes jobs:write,
 * key management, webhooks and delivery records (they hold secrets and receive every job's
 * result) admin, and pausing or resuming a queue, which every tenant shares, operator.
 */
export function requiredScope(method: string, path: string): Scope {
  if (path === '/v1/keys' || path.startsWith('/v1/keys/')) return 'admin';
  if (path === '/v1/webhooks' || path.startsWith('/v1/webhooks/')) return 'admin';
  // Delivery records show webhook URLs and receivers' answers: webhook business.
  if (/^\/v1\/jobs\/[^/]+\/deliveries$/.test(path)) return 'admin';
  if (/^\/v1\/queues\/[^/]+\/(pause|resume)$/.test(path)) return 'operator';
  return method === 'GET' || method === 'HEAD' ? 'jobs:read' : 'jobs:write';
}

const BEARER = /^Bearer ([\x21-\x7e]{1,4096})$/;

/**
 * Authenticates every request with `Authorization: Bearer <API key or JWT>` and checks the
 * route's scope: 401 without valid credentials, 403 without the scope. Sets c.get('principal'),
 * and c.get('stillAuthenticated') for streams to check the same credential again later.
 */
export function authenticate({
  keys,
  jwt,
  recheckMaxAgeMs,
}: {
  keys: ApiKeyStore;
  jwt?: JwtVerifier | undefined;
  /** How old a cached key lookup may be when a stream checks again. @defaultValue the cache TTL */
  recheckMaxAgeMs?: number;
}): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization');
    const token = header === undefined ? undefined : BEARER.exec(header)?.[1];
    if (token === undefined) {
      c.header('WWW-Authenticate', 'Bearer realm="conveyor"');
      throw new ConveyorError(
        'UNAUTHENTICATED',
        header === undefined
          ? 'send an API key: Authorization: Bearer <key>'
          : 'malformed Authorization header',
      );
    }
    const principal = token.startsWith('cvk_') ? await keys.authenticate(token) : await jwt?.(token);
    if (!principal) {
      c.header('WWW-Authenticate', 'Bearer realm="conveyor", error="invalid_token"');
      throw new ConveyorError('UNAUTHENTICATED', 'the API key or token is invalid, expired or revoked');
    }
    const scope = requiredScope(c.req.method, c.req.path);
    if (!hasScope(principal, scope)) {
      throw new ConveyorError(
        'FORBIDDEN',
        scope === 'operator'
          ? 'this key lacks the operator scope: queues are shared by every tenant, so only an operator may pause or resume them (admin does not imply operator)'
          : `this key lacks the ${scope} scope`,
        { details: { requiredScope: scope } },
      );
    }
    c.set('principal', principal);
    c.set('stillAuthenticated', async () => {
      const again = token.startsWith('cvk_')
        ? await keys.authenticate(token, { maxAgeMs: recheckMaxAgeMs ?? keys.cacheTtlMs })
        : await jwt?.(token);
      return again !== undefined && again.tenant === principal.tenant && hasScope(again, scope);
    });
    await next();
  };
}
