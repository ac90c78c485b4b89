import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { useTestServices } from '@conveyor/dev/testing';
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJwtVerifier } from '../apps/api/src/index.js';
import { createPipeline, type Pipeline, postJson } from './harness.js';

const services = useTestServices();
const SECRET = 'a-shared-secret-of-at-least-32-characters';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function hs256(claims: JWTPayload, { secret = SECRET } = {}): Promise<string> {
  return new SignJWT({ exp: Math.floor(Date.now() / 1_000) + 300, ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .sign(new TextEncoder().encode(secret));
}

describe('JWT bearer tokens (HS256)', () => {
  let p: Pipeline;
  beforeAll(async () => {
    const jwt = createJwtVerifier({ secret: SECRET, issuer: 'https://idp.test', audience: 'conveyor' });
    p = await createPipeline(services, jwt ? { jwt } : {});
  });
  afterAll(() => p.close());

  const claims = (extra: JWTPayload = {}): JWTPayload => ({
    iss: 'https://idp.test',
    aud: 'conveyor',
    sub: 'alice',
    tenant: 'acme',
    scope: 'jobs:read jobs:write',
    ...extra,
  });

  it('takes the tenant and scopes from the claims', async () => {
    const token = await hs256(claims());
    const submitted = await p.app.request('/v1/jobs', {
      method: 'POST',
      headers: { ...bearer(token), 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'noop' }),
    });
    expect(submitted.status).toBe(202);
    const { id } = (await submitted.json()) as { id: string };
    expect((await p.app.request(`/v1/jobs/${id}`, { headers: bearer(token) })).status).toBe(200);
    // The admin key of tenant `default` cannot see tenant acme's job.
    expect((await p.request(`/v1/jobs/${id}`)).status).toBe(404);
    // Tenant acme cannot see a job of tenant default.
    const theirs = (await (await postJson(p, '/v1/jobs', { type: 'noop' })).json()) as { id: string };
    expect((await p.app.request(`/v1/jobs/${theirs.id}`, { headers: bearer(token) })).status).toBe(404);
  });

  it('refuses a wrong signature, an expired token, a wrong issuer or audience, a malformed token with 401', async () => {
    const bad = [
      await hs256(claims(), { secret: 'another-secret-of-at-least-32-characters' }),
      await hs256(claims({ exp: Math.floor(Date.now() / 1_000) - 60 })),
      await hs256(claims({ iss: 'https://evil.test' })),
      await hs256(claims({ aud: 'someone-else' })),
      'not.a.jwt',
      // Whatever is wrong with the token itself is the token's fault, never the server's.
      'a.b.c.d.e',
      `${b64({ alg: 'none' })}.${b64(claims())}.`,
      `${b64({ alg: 'HS256', crit: ['x'], x: 1 })}.${b64(claims())}.c2ln`,
      `${b64({ alg: 'RS256' })}.${b64(claims())}.c2ln`,
    ];
    for (const token of bad) {
      const response = await p.app.request('/v1/jobs', { headers: bearer(token) });
      expect(response.status, token).toBe(401);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
    }
  });

  it('answers 403 without the route scope, and for a token naming no tenant', async () => {
    const readOnly = await hs256(claims({ scope: 'jobs:read' }));
    const post = await p.app.request('/v1/jobs', {
      method: 'POST',
      headers: { ...bearer(readOnly), 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'noop' }),
    });
    expect(post.status).toBe(403);
    expect((await p.app.request('/v1/jobs', { headers: bearer(readOnly) })).status).toBe(200);
    const noTenant = await hs256(claims({ tenant: undefined }));
    const response = await p.app.request('/v1/jobs', { headers: bearer(noTenant) });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { detail: string }).detail).toContain('"tenant" claim');
  });

  it('answers 403 for a token whose tenant claim holds a character Postgres cannot store', async () => {
    for (const tenant of ['acme\u0000', 'acme\ud800']) {
      const response = await p.app.request('/v1/jobs', { headers: bearer(await hs256(claims({ tenant }))) });
      expect(response.status).toBe(403);
      expect(((await response.json()) as { detail: string }).detail).toMatch(
        /"tenant" claim holds (the NUL character|a lone UTF-16 surrogate)/,
      );
    }
  });
});

describe('JWT bearer tokens (JWKS)', () => {
  let p: Pipeline;
  let jwks: Server;
  let fetches = 0;
  const signer = generateKeyPair('RS256');
  const stranger = generateKeyPair('RS256');

  type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  const rs256 = async (key: PrivateKey, kid = 'k1') =>
    new SignJWT({ tenant: 'acme', scope: 'jobs:read', sub: 'bob' })
      .setProtectedHeader({ alg: 'RS256', kid })
      .setExpirationTime('5m')
      .sign(key);

  beforeAll(async () => {
    const publicJwk = { ...(await exportJWK((await signer).publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    jwks = createServer((_req, res) => {
      fetches++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [publicJwk] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const { port } = jwks.address() as AddressInfo;
    const jwt = createJwtVerifier({ jwksUrl: `http://127.0.0.1:${port}/jwks.json` });
    p = await createPipeline(services, jwt ? { jwt } : {});
  });
  afterAll(async () => {
    await p.close();
    jwks.closeAllConnections();
    await new Promise((resolve) => jwks.close(resolve));
  });

  it('verifies tokens with the identity provider keys, fetching the key set once for many requests', async () => {
    const token = await rs256((await signer).privateKey);
    for (let i = 0; i < 20; i++) {
      expect((await p.app.request('/v1/jobs', { headers: bearer(token) })).status).toBe(200);
    }
    expect(fetches).toBe(1);
  });

  it('refuses a token signed by another key with 401', async () => {
    const forged = await rs256((await stranger).privateKey);
    expect((await p.app.request('/v1/jobs', { headers: bearer(forged) })).status).toBe(401);
  });

  it('answers 503, not 401, while the key set cannot be read', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const jwksUrl = `http://127.0.0.1:${port}/jwks.json`;
    const verify = createJwtVerifier({ jwksUrl });
    const token = await rs256((await signer).privateKey);
    await expect(verify?.(token)).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      retryable: true,
      message: `the identity provider's keys (${jwksUrl}) could not be read`,
    });
  });
});
