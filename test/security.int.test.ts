import { randomUUID } from 'node:crypto';
import { jobs } from '@conveyor/core/db';
import { deleteKeys, useTestServices } from '@conveyor/dev/testing';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasScope, type Scope, scopes } from '../apps/api/src/auth/principal.js';
import { operations } from '../apps/api/src/openapi/operations.js';
import { createPipeline, type Pipeline, postJson, waitForStatus, withKey } from './harness.js';

const services = useTestServices();
let p: Pipeline;

beforeAll(async () => {
  p = await createPipeline(services);
  p.startWorker();
});
afterAll(() => p.close());

/** Every /v1 route the app registers, with its parameters filled in. */
function v1Routes(): { method: string; path: string }[] {
  const seen = new Set<string>();
  return p.app.routes
    .filter((r) => r.method !== 'ALL' && r.path.startsWith('/v1/'))
    .map((r) => ({
      method: r.method,
      path: r.path
        .replace(/:id\b/g, randomUUID())
        .replace(/:name\b/g, 'default')
        .replace(/:[a-z]+/gi, 'x'),
    }))
    .filter((r) => !seen.has(`${r.method} ${r.path}`) && seen.add(`${r.method} ${r.path}`) !== undefined);
}

async function keyWith(
  scopes: ('jobs:read' | 'jobs:write' | 'admin')[],
  tenant = 'default',
): Promise<string> {
  return (await p.keys.create({ tenant, name: scopes.join('+'), scopes })).key;
}

describe('authentication and scopes', () => {
  it('answers 401 problem+json on every /v1 route without a key, and with a bad one', async () => {
    const routes = v1Routes();
    expect(routes.length).toBeGreaterThanOrEqual(8);
    for (const { method, path } of routes) {
      for (const authorization of [
        undefined,
        'Bearer cvk_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
        'Basic x',
      ]) {
        const response = await p.app.request(path, {
          method,
          headers: authorization ? { authorization } : {},
        });
        expect(response.status, `${method} ${path} ${authorization}`).toBe(401);
        expect(response.headers.get('content-type')).toBe('application/problem+json');
        expect(response.headers.get('www-authenticate')).toContain('Bearer');
      }
    }
  });

  it("enforces every route's declared scope: 403 naming it without, never 403 with it", async () => {
    const declared = operations.filter((o) => o.path.startsWith('/v1/'));
    expect(declared.length).toBeGreaterThan(30);
    const keys = new Map<string, string>();
    const keyFor = async (granted: Scope[]) => {
      const name = granted.join('+');
      let key = keys.get(name);
      if (!key) {
        key = (await p.keys.create({ tenant: 'default', name, scopes: granted })).key;
        keys.set(name, key);
      }
      return key;
    };
    for (const spec of declared) {
      const scope = spec.scope as Scope;
      const path = spec.path
        .replace(/:id\b/g, randomUUID())
        .replace(/:deliveryId\b/g, randomUUID())
        .replace(/:name\b/g, 'default');
      const init = { method: spec.method.toUpperCase() };
      // Every scope that does not grant this one, together.
      const others = scopes.filter(
        (s) => !hasScope({ tenant: 'default', subject: 'x', scopes: new Set([s]) }, scope),
      );
      const refused = await p.app.request(path, withKey(await keyFor(others), init));
      expect(refused.status, `${spec.method} ${spec.path} with ${others.join(',')}`).toBe(403);
      expect(await refused.json()).toMatchObject({ code: 'FORBIDDEN', requiredScope: scope });
      const allowed = await p.app.request(path, withKey(await keyFor([scope]), init));
      expect(allowed.status, `${spec.method} ${spec.path} with ${scope}`).not.toBe(403);
      await allowed.body?.cancel();
    }
  });

  it('lets an admin create, list and revoke keys of its tenant; a revoked key stops working', async () => {
    const created = await postJson(p, '/v1/keys', { name: 'ci', scopes: ['jobs:read'] });
    expect(created.status).toBe(201);
    const { id, key } = (await created.json()) as { id: string; key: string };
    expect((await p.app.request('/v1/jobs', withKey(key))).status).toBe(200);
    const listed = (await (await p.request('/v1/keys')).json()) as { items: Record<string, unknown>[] };
    expect(listed.items.find((k) => k.id === id)).toBeDefined();
    // The secret is all after `cvk_<keyId>_` (base64url: it may hold '_' itself).
    const secret = key.slice(key.indexOf('_', 'cvk_'.length) + 1);
    expect(secret).toHaveLength(43);
    expect(JSON.stringify(listed)).not.toContain(secret);
    expect((await p.request(`/v1/keys/${id}`, { method: 'DELETE' })).status).toBe(204);
    await new Promise((resolve) => setTimeout(resolve, 5_100)); // the per-process cache (5 s) lapses
    expect((await p.app.request('/v1/jobs', withKey(key))).status).toBe(401);
  });
});

describe('tenancy', () => {
  it('hides another tenant’s jobs: get, cancel and retry answer 404 as for a missing job', async () => {
    const other = await keyWith(['admin'], 'other-tenant');
    const id = (
      (await (await postJson(p, '/v1/jobs', { type: 'noop', delayMs: 60_000 })).json()) as { id: string }
    ).id;
    const failed = (
      (await (await postJson(p, '/v1/jobs', { type: 'test.fail', data: {}, attempts: 1 })).json()) as {
        id: string;
      }
    ).id;
    await waitForStatus((path) => p.request(path), failed, ['failed']);
    for (const [method, path] of [
      ['GET', `/v1/jobs/${id}`],
      ['POST', `/v1/jobs/${id}/cancel`],
      ['GET', `/v1/jobs/${failed}`],
      ['POST', `/v1/jobs/${failed}/retry`],
    ] as const) {
      const response = await p.app.request(path, withKey(other, { method }));
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(await response.json()).toMatchObject({ code: 'JOB_NOT_FOUND' });
    }
    const list = (await (await p.app.request('/v1/jobs', withKey(other))).json()) as { items: unknown[] };
    expect(list.items).toEqual([]);
    expect((await p.request(`/v1/jobs/${id}`)).status).toBe(200);
  });
});

describe('per-tenant cap', () => {
  it('answers 429 QUEUE_FULL past the cap and frees a slot when a job ends', async () => {
    const capped = await createPipeline(
      { ...services, prefix: `${services.prefix}-cap` },
      { tenantMaxInFlight: 3 },
    );
    try {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const response = await postJson(capped, '/v1/jobs', { type: 'noop', delayMs: 60_000 });
        expect(response.status).toBe(202);
        ids.push(((await response.json()) as { id: string }).id);
      }
      const full = await postJson(capped, '/v1/jobs', { type: 'noop' });
      expect(full.status).toBe(429);
      expect(full.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
      expect(await full.json()).toMatchObject({ code: 'QUEUE_FULL' });
      const batch = await postJson(capped, '/v1/jobs/batch', { jobs: [{ type: 'noop' }] });
      expect(batch.status).toBe(429);
      expect(batch.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
      expect((await capped.request(`/v1/jobs/${ids[0]}/cancel`, { method: 'POST' })).status).toBe(200);
      expect((await postJson(capped, '/v1/jobs', { type: 'noop', delayMs: 60_000 })).status).toBe(202);
    } finally {
      await capped.close();
      // Its own prefix: the file's cleanup removes only `${services.prefix}:*`.
      await deleteKeys(services.redisUrl, `${services.prefix}-cap`);
    }
  });
});

describe('rate limit', () => {
  it('answers 429 RATE_LIMITED with Retry-After in seconds once the bucket is empty', async () => {
    const limited = await createPipeline(
      { ...services, prefix: `${services.prefix}-rl` },
      { rateLimit: { perSecond: 1, burst: 2 } },
    );
    try {
      const answers = [];
      for (let i = 0; i < 4; i++) answers.push(await limited.request('/v1/job-types'));
      const refused = answers.find((r) => r.status === 429);
      expect(refused, answers.map((r) => r.status).join(',')).toBeDefined();
      expect(refused?.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
      expect(await refused?.json()).toMatchObject({ code: 'RATE_LIMITED' });
    } finally {
      await limited.close();
      await deleteKeys(services.redisUrl, `${services.prefix}-rl`);
    }
  });
});

describe('hostile input', () => {
  /** A small deterministic PRNG, so a failure replays. */
  function rng(seed: number) {
    let s = seed;
    return () => {
      s = (s * 1_103_515_245 + 12_345) % 2_147_483_648;
      return s / 2_147_483_648;
    };
  }

  function hostileRequests(): {
    method: string;
    path: string;
    headers: Record<string, string>;
    body?: string;
  }[] {
    const json = { 'content-type': 'application/json' };
    const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
    const bodies = [
      '',
      '{',
      '{"type":',
      '{"type":"noop",}',
      '[1,2',
      'null',
      '"just a string"',
      '12',
      '{"type":NaN}',
      '{"type":"noop","data":1e400}',
      '\u0000\u0001\u0002',
      '{"type":"\uD800"}',
      deep(40),
      `{"type":"echo","data":${deep(5_000)}}`,
      '{"__proto__":{"polluted":true},"type":"noop"}',
      '{"type":"noop","constructor":{"prototype":{"polluted":true}}}',
      '{"type":"__proto__"}',
      '{"type":"noop","id":"../../etc/passwd"}',
      '{"type":"noop","id":"00000000-0000-0000-0000-00000000000g"}',
      '{"type":"noop","priority":-1}',
      '{"type":"noop","priority":1.5}',
      '{"type":"noop","priority":"high"}',
      '{"type":"noop","delayMs":1e20}',
      '{"type":"noop","attempts":0}',
      '{"type":"noop","timeoutMs":-5}',
      '{"type":"noop","metadata":[]}',
      '{"type":"noop","metadata":"x"}',
      '{"type":"noop","unknown":true}',
      '{"type":"sleep","data":{"ms":"1000"}}',
      '{"type":"sleep","data":{"ms":1e12}}',
      '{"type":"sleep"}',
      '{"type":"http.request","data":{"url":"javascript:alert(1)"}}',
      '{"type":"http.request","data":{"url":"http://x","method":"TRACE"}}',
      `{"type":"${'x'.repeat(10_000)}"}`,
      `{"type":"echo","data":"${'x'.repeat(70_000)}"}`,
      '{"type":123}',
      '{"type":null}',
      '{"type":["noop"]}',
      '{"jobs":"all"}',
      '{"jobs":[{"type":"noop"},{"type":"nope"}]}',
      `{"jobs":[${Array.from({ length: 1_001 }, () => '{"type":"noop"}').join(',')}]}`,
    ];
    const requests: { method: string; path: string; headers: Record<string, string>; body?: string }[] = [];
    for (const body of bodies) {
      requests.push({ method: 'POST', path: '/v1/jobs', headers: json, body });
      requests.push({ method: 'POST', path: '/v1/jobs/batch', headers: json, body });
      requests.push({ method: 'POST', path: '/v1/keys', headers: json, body });
    }
    const ids = [
      'not-a-uuid',
      '..%2F..%2Fetc%2Fpasswd',
      '%00',
      "1'; drop table jobs;--",
      'x'.repeat(5_000),
      '%E0%A4%A',
    ];
    for (const id of ids) {
      for (const suffix of ['', '/cancel', '/retry', '/events']) {
        requests.push({ method: suffix ? 'POST' : 'GET', path: `/v1/jobs/${id}${suffix}`, headers: {} });
      }
    }
    for (const query of [
      'limit=-1',
      'limit=abc',
      'limit=1e9',
      'status=done',
      'status=',
      'cursor=!!!',
      'createdAfter=yesterday',
      'type[]=x',
      'cursor=eyJwIjoicSIsInEiOi0xfQ',
    ]) {
      requests.push({ method: 'GET', path: `/v1/jobs?${query}`, headers: {} });
    }
    for (const method of ['PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
      requests.push({ method, path: '/v1/jobs', headers: json, body: '{"type":"noop"}' });
      requests.push({ method, path: `/v1/jobs/${randomUUID()}`, headers: {} });
    }
    for (const contentType of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/jsonx',
      '',
    ]) {
      requests.push({
        method: 'POST',
        path: '/v1/jobs',
        headers: { 'content-type': contentType },
        body: '{"type":"noop","unknown":1}',
      });
    }
    for (const key of ['', ' ', 'a'.repeat(300), 'bell\u0007x', 'tab\there', 'ümlaut']) {
      requests.push({
        method: 'POST',
        path: '/v1/jobs',
        headers: { ...json, 'idempotency-key': key },
        body: '{"type":"noop","x":1}',
      });
    }
    // Random mutations of a valid body, each made invalid by an unknown field.
    const random = rng(42);
    const values: unknown[] = [
      null,
      true,
      -1,
      0,
      2 ** 53,
      'x',
      '',
      [],
      {},
      [[[]]],
      { a: { b: 1 } },
      '\u202e',
    ];
    const fields = [
      'type',
      'data',
      'id',
      'priority',
      'delayMs',
      'runAt',
      'attempts',
      'timeoutMs',
      'metadata',
    ];
    while (requests.length < 560) {
      const body: Record<string, unknown> = {
        type: ['noop', 'echo', 'sleep', 'http.request', 'nope'][Math.floor(random() * 5)],
      };
      for (const field of fields)
        if (random() < 0.4) body[field] = values[Math.floor(random() * values.length)];
      body[`junk${Math.floor(random() * 1_000)}`] = 1;
      requests.push({
        method: 'POST',
        path: random() < 0.5 ? '/v1/jobs' : '/v1/jobs/batch',
        headers: json,
        body: JSON.stringify(random() < 0.5 ? body : { jobs: [body] }),
      });
    }
    return requests;
  }

  it('answers 500+ malformed or hostile requests with 4xx problem+json, enqueues nothing, stays healthy', async () => {
    const counts = async () => Promise.all(p.queues.all().map((q) => q.count()));
    const rows = async () => (await p.database.db.select({ n: sql<number>`count(*)::int` }).from(jobs))[0]?.n;
    const [queuedBefore, rowsBefore] = [await counts(), await rows()];
    const requests = hostileRequests();
    expect(requests.length).toBeGreaterThanOrEqual(500);
    for (const { method, path, headers, body } of requests) {
      const response = await p.request(path, { method, headers, ...(body === undefined ? {} : { body }) });
      const label = `${method} ${path.slice(0, 80)} ${body?.slice(0, 80) ?? ''}`;
      expect(response.status, label).toBeGreaterThanOrEqual(400);
      expect(response.status, label).toBeLessThan(500);
      expect(response.headers.get('content-type'), label).toBe('application/problem+json');
      const problem = (await response.json()) as Record<string, unknown>;
      expect(typeof problem.code, label).toBe('string');
      expect(JSON.stringify(problem), label).not.toMatch(/at .+\.(ts|js):\d+|select |insert into/i);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(await counts()).toEqual(queuedBefore);
    expect(await rows()).toBe(rowsBefore);
    expect((await p.request('/health/ready')).status).toBe(200);
  });
});
