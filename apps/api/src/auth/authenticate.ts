import { ConveyorError } from '@conveyor/core/errors';
import type { MiddlewareHandler } from 'hono';
import type { ApiEnv } from '../api-env.js';
import type { ApiKeyStore } from './api-keys.js';
import type { JwtVerifier } from './jwt-verifier.js';
import { hasScope, type Scope } from './principal.js';

const BEARER = /^Bearer ([\x21-\x7e]{1,4096})$/;

/**
 * Authenticates every /v1 request with `Authorization: Bearer <API key or JWT>`: 401 without
 * valid credentials. Sets c.get('principal'), and c.get('recheck') for the route's scope check
 * (requireScope, from the route's own declaration) to let streams check the credential again.
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
    c.set('principal', principal);
    c.set('recheck', async (scope: Scope) => {
      const again = token.startsWith('cvk_')
        ? await keys.authenticate(token, { maxAgeMs: recheckMaxAgeMs ?? keys.cacheTtlMs })
        : await jwt?.(token);
      return again !== undefined && again.tenant === principal.tenant && hasScope(again, scope);
    });
    await next();
  };
}

/**
 * The scope a route declares, enforced: 403 naming it when the caller's key lacks it. Sets
 * c.get('stillAuthenticated') for streams to check the same credential, with this scope, later.
 */
export function requireScope(scope: Scope): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const principal = c.get('principal');
    if (!principal || !hasScope(principal, scope)) {
      throw new ConveyorError(
        'FORBIDDEN',
        scope === 'operator'
          ? 'this key lacks the operator scope: queues are shared by every tenant, so only an operator may pause or resume them (admin does not imply operator)'
          : `this key lacks the ${scope} scope`,
        { details: { requiredScope: scope } },
      );
    }
    const recheck = c.get('recheck');
    c.set('stillAuthenticated', () => (recheck ? recheck(scope) : Promise.resolve(false)));
    await next();
  };
}
