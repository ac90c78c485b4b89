import { ConveyorError } from '@conveyor/core/errors';
import { verify, verifyWithJwks } from 'hono/jwt';
import { isScope, type Principal } from './principal.js';

export interface JwtOptions {
  /** HS256 shared secret. */
  secret?: string | undefined;
  /** JWKS URL of an identity provider (RS256/ES256 keys). */
  jwksUrl?: string | undefined;
  /** Claim holding the tenant. @defaultValue 'tenant' */
  tenantClaim?: string;
  /** Required `iss`, if set. */
  issuer?: string | undefined;
  /** Required `aud`, if set. */
  audience?: string | undefined;
}

/** Verifies a bearer JWT and maps its claims to a principal: tenant from `tenantClaim`, scopes from `scope`. */
export type JwtVerifier = (token: string) => Promise<Principal | undefined>;

export function createJwtVerifier({
  secret,
  jwksUrl,
  tenantClaim = 'tenant',
  issuer,
  audience,
}: JwtOptions): JwtVerifier | undefined {
  if (!secret && !jwksUrl) return undefined;
  const verification = { ...(issuer ? { iss: issuer } : {}), ...(audience ? { aud: audience } : {}) };
  return async (token) => {
    let payload: Record<string, unknown>;
    try {
      payload = secret
        ? await verify(token, secret, { alg: 'HS256', ...verification })
        : await verifyWithJwks(token, {
            jwks_uri: jwksUrl,
            allowedAlgorithms: ['RS256', 'ES256'],
            verification,
          });
    } catch {
      return undefined;
    }
    const tenant = payload[tenantClaim];
    if (typeof tenant !== 'string' || tenant === '') {
      throw new ConveyorError('FORBIDDEN', `the token has no "${tenantClaim}" claim naming a tenant`);
    }
    const scope = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
    const subject = typeof payload.sub === 'string' ? payload.sub : 'jwt';
    return { tenant, scopes: new Set(scope.filter(isScope)), subject: `jwt:${subject}` };
  };
}
