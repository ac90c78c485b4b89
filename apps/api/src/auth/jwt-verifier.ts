import { ConveyorError, findUnstorable } from '@conveyor/core/errors';
import { createRemoteJWKSet, errors, type JWTPayload, type JWTVerifyOptions, jwtVerify } from 'jose';
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

/**
 * jose errors that mean "this token is not acceptable" (401). Any other failure is, with a
 * key set, the identity provider's (503); with a shared secret nothing else can fail, so it
 * would be a bug (500).
 */
const INVALID_TOKEN = new Set<string>([
  errors.JWTClaimValidationFailed.code,
  errors.JWTExpired.code,
  errors.JWTInvalid.code,
  errors.JWSInvalid.code,
  errors.JWSSignatureVerificationFailed.code,
  errors.JOSEAlgNotAllowed.code,
  errors.JOSENotSupported.code,
  errors.JWKInvalid.code,
  errors.JWKSNoMatchingKey.code,
  errors.JWKSMultipleMatchingKeys.code,
]);

/** Whether jose refused the token itself (401), rather than failing to check it. */
function isTokenError(error: unknown): boolean {
  return error instanceof errors.JOSEError && INVALID_TOKEN.has(error.code);
}

type VerifyToken = (token: string) => Promise<JWTPayload>;

/** HS256 with a shared secret: nothing is fetched, so every failure is the token's. */
function sharedSecretVerifier(secret: string, options: JWTVerifyOptions): VerifyToken {
  const key = new TextEncoder().encode(secret);
  return async (token) => (await jwtVerify(token, key, { ...options, algorithms: ['HS256'] })).payload;
}

/** RS256/ES256 with the identity provider's key set: a key set that cannot be read is a 503. */
function keySetVerifier(jwksUrl: string, options: JWTVerifyOptions): VerifyToken {
  const keys = createRemoteJWKSet(new URL(jwksUrl), { timeoutDuration: 3_000 });
  return async (token) => {
    try {
      return (await jwtVerify(token, keys, { ...options, algorithms: ['RS256', 'ES256'] })).payload;
    } catch (error) {
      if (isTokenError(error)) throw error;
      throw new ConveyorError('UNAVAILABLE', `the identity provider's keys (${jwksUrl}) could not be read`, {
        cause: error,
        retryable: true,
      });
    }
  };
}

/**
 * JWT bearer tokens, for teams with an identity provider: HS256 with a shared secret, or
 * RS256/ES256 with keys from a JWKS URL. The key set is cached (10 min, refetched at most
 * every 30 s for an unknown `kid`), so requests do not each call the identity provider;
 * when it cannot be read, requests get 503 rather than a misleading 401.
 *
 * @example
 * const jwt = createJwtVerifier({ jwksUrl: 'https://idp.example/.well-known/jwks.json', audience: 'conveyor' });
 */
export function createJwtVerifier({
  secret,
  jwksUrl,
  tenantClaim = 'tenant',
  issuer,
  audience,
}: JwtOptions): JwtVerifier | undefined {
  const options: JWTVerifyOptions = {
    ...(issuer ? { issuer } : {}),
    ...(audience ? { audience } : {}),
  };
  let verify: VerifyToken;
  if (secret) verify = sharedSecretVerifier(secret, options);
  else if (jwksUrl) verify = keySetVerifier(jwksUrl, options);
  else return undefined;

  return async (token) => {
    let payload: JWTPayload;
    try {
      payload = await verify(token);
    } catch (error) {
      if (isTokenError(error)) return undefined;
      throw error;
    }
    const tenant = payload[tenantClaim];
    if (typeof tenant !== 'string' || tenant === '') {
      throw new ConveyorError('FORBIDDEN', `the token has no "${tenantClaim}" claim naming a tenant`);
    }
    // The tenant is stored on every job row: a NUL or lone surrogate would make them unwritable.
    const unstorable = findUnstorable(tenant, tenantClaim);
    if (unstorable) {
      throw new ConveyorError('FORBIDDEN', `the token's "${tenantClaim}" claim ${unstorable.message}`);
    }
    const scope = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
    const subject = typeof payload.sub === 'string' ? payload.sub : 'jwt';
    return { tenant, scopes: new Set(scope.filter(isScope)), subject: `jwt:${subject}` };
  };
}
