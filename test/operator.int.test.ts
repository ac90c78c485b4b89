import { useTestServices } from '@conveyor/dev/testing';
import { SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../apps/api/src/auth/api-keys.js';
import type { Scope } from '../apps/api/src/auth/principal.js';
import { createJwtVerifier } from '../apps/api/src/index.js';
import { createPipeline, type Pipeline, postJson, withKey } from './harness.js';

/**
 * Queues are shared by every tenant: pausing, resuming and seeing their depth is operator
 * power, which a tenant's admin does not have.
 */
const services = useTestServices();
const SECRET = 'a-shared-secret-of-at-least-32-characters';
let p: Pipeline;
/** Tenant B's admin: manages tenant B only. */
let adminB: string;
/** An operator of tenant ops, with jobs:read to list queues. */
let operator: string;

interface QueueInfo {
  name: string;
  counts: Record<string, number> | null;
  paused: boolean;
  workers: number | null;
}

const keyWith = async (tenant: string, scopes: Scope[]) =>
  (await p.keys.create({ tenant, name: scopes.join('+'), scopes })).key;
const as = (key: string, path: string, init: RequestInit = {}) => p.app.request(path, withKey(key, init));
const queues = async (key: string) => {
  const response = await as(key, '/v1/queues');
  expect(response.status).toBe(200);
  return ((await response.json()) as { items: QueueInfo[] }).items;
};
const token = (scope: string) =>
  new SignJWT({ exp: Math.floor(Date.now() / 1_000) + 300, sub: 'op', tenant: 'idp', scope })
    .setProtectedHeader({ alg: 'HS256' })
    .sign(new TextEncoder().encode(SECRET));

beforeAll(async () => {
  const jwt = createJwtVerifier({ secret: SECRET });
  p = await createPipeline(services, jwt ? { jwt } : {});
  adminB = await keyWith('tenant-b', ['admin']);
  operator = await keyWith('ops', ['jobs:read', 'operator']);
  // Tenant default's backlog: depth that tenant B must not see.
  for (let i = 0; i < 3; i++) {
    expect((await postJson(p, '/v1/jobs', { type: 'noop', delayMs: 600_000 })).status).toBe(202);
  }
});
afterEach(async () => {
  await p.queues.get('default').resume();
});
afterAll(() => p.close());

describe('a tenant admin', () => {
  it('gets 403 naming the operator scope on pause and resume, and the queue stays as it was', async () => {
    const paused = await as(adminB, '/v1/queues/default/pause', { method: 'POST' });
    expect(paused.status).toBe(403);
    expect(paused.headers.get('content-type')).toBe('application/problem+json');
    const problem = (await paused.json()) as { code: string; detail: string; requiredScope: string };
    expect(problem).toMatchObject({ code: 'FORBIDDEN', requiredScope: 'operator' });
    expect(problem.detail).toContain('operator scope');
    expect(await p.queues.get('default').isPaused()).toBe(false);

    await p.queues.get('default').pause();
    const resumed = await as(adminB, '/v1/queues/default/resume', { method: 'POST' });
    expect(resumed.status).toBe(403);
    expect(await resumed.json()).toMatchObject({ code: 'FORBIDDEN', requiredScope: 'operator' });
    expect(await p.queues.get('default').isPaused()).toBe(true);
  });

  it('sees queue names and paused flags but no depth or workers', async () => {
    await p.queues.get('default').pause();
    const items = await queues(adminB);
    expect(items.map((q) => q.name)).toContain('default');
    for (const queue of items) expect(queue).toMatchObject({ counts: null, workers: null });
    expect(items.find((q) => q.name === 'default')?.paused).toBe(true);
  });

  it('cannot grant operator, to itself or anyone; may grant the tenant scopes', async () => {
    const refused = await postJson({ request: (path, init) => as(adminB, path, init) }, '/v1/keys', {
      name: 'escalate',
      scopes: ['admin', 'operator'],
    });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ code: 'FORBIDDEN', requiredScope: 'operator' });
    const granted = await postJson({ request: (path, init) => as(adminB, path, init) }, '/v1/keys', {
      name: 'ci',
      scopes: ['jobs:read', 'jobs:write', 'admin'],
    });
    expect(granted.status).toBe(201);
  });
});

describe('an operator', () => {
  it("pauses and resumes a shared queue and sees every tenant's depth", async () => {
    const paused = await as(operator, '/v1/queues/default/pause', { method: 'POST' });
    expect(paused.status).toBe(200);
    expect(await paused.json()).toMatchObject({ name: 'default', paused: true });
    expect(await p.queues.get('default').isPaused()).toBe(true);
    const resumed = await as(operator, '/v1/queues/default/resume', { method: 'POST' });
    expect(resumed.status).toBe(200);
    const body = (await resumed.json()) as QueueInfo;
    expect(body).toMatchObject({ name: 'default', paused: false });
    expect(body.counts?.delayed).toBe(3);

    const queue = (await queues(operator)).find((q) => q.name === 'default');
    expect(queue?.counts?.delayed).toBe(3);
    expect(typeof queue?.workers).toBe('number');
  });

  it('with admin too, may grant operator through POST /v1/keys, and the new key works as one', async () => {
    const created = await postJson(p, '/v1/keys', {
      name: 'on-call',
      scopes: ['jobs:read', 'operator'],
    });
    expect(created.status).toBe(201);
    const { key, scopes } = (await created.json()) as { key: string; scopes: string[] };
    expect(scopes).toEqual(['jobs:read', 'operator']);
    expect((await as(key, '/v1/queues/default/pause', { method: 'POST' })).status).toBe(200);
  });

  it('holds the scope from a JWT scope claim, which admin alone does not give', async () => {
    const admin = await token('admin');
    expect((await as(admin, '/v1/queues/default/pause', { method: 'POST' })).status).toBe(403);
    expect((await queues(admin)).every((q) => q.counts === null)).toBe(true);
    const op = await token('jobs:read operator');
    expect((await as(op, '/v1/queues/default/pause', { method: 'POST' })).status).toBe(200);
    expect((await queues(op)).find((q) => q.name === 'default')?.counts?.delayed).toBe(3);
  });

  it('is what a bootstrap key stored before operator existed gets when ensured again', async () => {
    const { key } = generateApiKey();
    await p.keys.create({ tenant: 'default', name: 'bootstrap', scopes: ['admin'], key });
    expect((await as(key, '/v1/queues/default/pause', { method: 'POST' })).status).toBe(403);
    const ensured = await p.keys.create({
      tenant: 'default',
      name: 'bootstrap',
      scopes: ['admin', 'operator'],
      key,
    });
    expect(ensured.scopes).toEqual(['admin', 'operator']);
    expect((await as(key, '/v1/queues/default/pause', { method: 'POST' })).status).toBe(200);
    // The same key id under another tenant or secret is not taken over.
    const other = await p.keys.create({ tenant: 'tenant-b', name: 'x', scopes: ['admin', 'operator'], key });
    expect(other.tenant).toBe('default');
  });
});
