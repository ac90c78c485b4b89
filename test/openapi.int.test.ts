import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { useTestServices } from '@conveyor/dev/testing';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OpenApiDocument } from '../apps/api/src/openapi/openapi-document.js';
import { operations } from '../apps/api/src/openapi/operations.js';
import { createPipeline, type Pipeline, postJson, waitForStatus, withKey } from './harness.js';

/**
 * The OpenAPI document against the running app: every route it registers is documented (and
 * nothing else), and real answers, errors included, match the documented schemas.
 */
const services = useTestServices();
let p: Pipeline;
let document: OpenApiDocument;
/** Receives webhook deliveries: `/fail…` answers 500, anything else 204. */
let receiver: Server;
let receiverBase: string;
const DOC_ID = 'https://conveyor.invalid/openapi.json';
const ajv = new Ajv2020({ strict: false, allErrors: true });
// ajv-formats is CommonJS: module.exports is the plugin, and so is its `default` property.
addFormatsModule.default(ajv);

beforeAll(async () => {
  receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(req.url?.startsWith('/fail') ? 500 : 204).end());
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverBase = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  p = await createPipeline(services);
  // Deliveries give up after two quick attempts, so a failed one (with its error) shows up fast.
  p.startWorker({ deliveries: { maxAttempts: 2, backoffMs: 20 } });
  const response = await p.app.request('/openapi.json');
  expect(response.status).toBe(200);
  document = (await response.json()) as OpenApiDocument;
  ajv.addSchema(document, DOC_ID);
});
afterAll(async () => {
  await p.close();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
  receiver.closeAllConnections();
});

const pointer = (segment: string) => segment.replaceAll('~', '~0').replaceAll('/', '~1');

/**
 * Checks one real answer against the document: its status is documented for the operation,
 * its content type too, and a JSON body validates against the schema. Returns the body.
 */
async function conforms(method: string, template: string, response: Response): Promise<unknown> {
  const path = template.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
  const operation = document.paths[path]?.[method] as
    | { responses: Record<string, { $ref?: string; content?: Record<string, unknown> }> }
    | undefined;
  if (!operation) throw new Error(`${method.toUpperCase()} ${path} is not documented`);
  const documented = operation.responses[String(response.status)];
  if (!documented) {
    throw new Error(
      `${method.toUpperCase()} ${path} answered ${response.status}, not documented: ${await response.text()}`,
    );
  }
  const base = documented.$ref
    ? documented.$ref.slice(1)
    : `/paths/${pointer(path)}/${method}/responses/${response.status}`;
  const contentType = (response.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '';
  const target = documented.$ref
    ? ((document.components.responses as Record<string, { content?: Record<string, unknown> }>)[
        documented.$ref.split('/').at(-1) ?? ''
      ] ?? {})
    : documented;
  if (!target.content) {
    expect(await response.text(), `${method} ${path} ${response.status} has no documented body`).toBe('');
    return undefined;
  }
  const mediaType = Object.keys(target.content).find((type) => type === contentType);
  expect(mediaType, `${method} ${path} ${response.status}: ${contentType} not documented`).toBeDefined();
  if (!contentType.endsWith('json')) return response.text();
  const body: unknown = await response.json();
  const validate = ajv.getSchema(`${DOC_ID}#${base}/content/${pointer(mediaType ?? '')}/schema`);
  if (!validate) throw new Error(`no schema at ${base}`);
  expect(validate(body), `${method} ${path} ${response.status}: ${JSON.stringify(validate.errors)}`).toBe(
    true,
  );
  return body;
}

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  postJson(p, path, body, headers);
const send = (method: string, path: string) => p.request(path, { method });
const patch = (path: string, body: unknown) =>
  p.request(path, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

describe('the OpenAPI document and the app', () => {
  it('documents every route the app registers, and only those', () => {
    const registered = new Set(
      p.app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method.toLowerCase()} ${r.path}`),
    );
    const documented = new Set(
      Object.entries(document.paths).flatMap(([path, methods]) =>
        Object.keys(methods).map((method) => `${method} ${path.replace(/\{([^}]+)\}/g, ':$1')}`),
      ),
    );
    expect(registered.size).toBeGreaterThan(20);
    expect([...registered].filter((r) => !documented.has(r))).toEqual([]);
    expect([...documented].filter((d) => !registered.has(d))).toEqual([]);
    expect(documented.size).toBe(operations.length);
  });

  it('matches real job answers: submit, idempotent repeat, batch, list, get, cancel, retry', async () => {
    const id = randomUUID();
    const submitted = await post('/v1/jobs', { id, type: 'echo', data: { hello: 'openapi' } });
    expect(submitted.status).toBe(202);
    await conforms('post', '/v1/jobs', submitted);
    const repeated = await post('/v1/jobs', { id, type: 'echo', data: { hello: 'openapi' } });
    expect(repeated.status).toBe(200);
    await conforms('post', '/v1/jobs', repeated);
    await waitForStatus((path) => p.request(path), id, ['completed']);
    await conforms('get', '/v1/jobs/:id', await p.request(`/v1/jobs/${id}`));

    const batch = await post('/v1/jobs/batch', {
      jobs: [{ type: 'noop' }, { type: 'sleep', data: { ms: 1 } }],
    });
    expect(batch.status).toBe(202);
    await conforms('post', '/v1/jobs/batch', batch);
    await conforms('get', '/v1/jobs', await p.request('/v1/jobs?limit=5'));

    const delayed = (await (await post('/v1/jobs', { type: 'noop', delayMs: 60_000 })).json()) as {
      id: string;
    };
    await conforms('get', '/v1/jobs/:id', await p.request(`/v1/jobs/${delayed.id}`));
    await conforms('post', '/v1/jobs/:id/cancel', await send('POST', `/v1/jobs/${delayed.id}/cancel`));
    const again = await send('POST', `/v1/jobs/${delayed.id}/cancel`);
    expect(again.status).toBe(409);
    await conforms('post', '/v1/jobs/:id/cancel', again);
    await conforms('post', '/v1/jobs/:id/retry', await send('POST', `/v1/jobs/${delayed.id}/retry`));
    const finished = await send('POST', `/v1/jobs/${id}/retry`);
    expect(finished.status).toBe(409);
    await conforms('post', '/v1/jobs/:id/retry', finished);
  });

  it('matches real problem+json answers: 400, 401, 403, 404, 409, 415', async () => {
    const invalid = await post('/v1/jobs', { type: 'sleep', data: { ms: 'soon' } });
    expect(invalid.status).toBe(400);
    expect(await conforms('post', '/v1/jobs', invalid)).toMatchObject({ code: 'VALIDATION_FAILED' });
    const badBatch = await post('/v1/jobs/batch', { jobs: [] });
    expect(badBatch.status).toBe(400);
    await conforms('post', '/v1/jobs/batch', badBatch);
    const conflict = randomUUID();
    await post('/v1/jobs', { id: conflict, type: 'noop', delayMs: 60_000 });
    const clash = await post('/v1/jobs', { id: conflict, type: 'noop', delayMs: 1 });
    expect(clash.status).toBe(409);
    await conforms('post', '/v1/jobs', clash);
    const text = await p.request('/v1/jobs', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'x',
    });
    expect(text.status).toBe(415);
    await conforms('post', '/v1/jobs', text);
    await conforms('get', '/v1/jobs', await p.request('/v1/jobs?limit=0'));
    await conforms('get', '/v1/jobs/:id', await p.request('/v1/jobs/not-a-uuid'));
    await conforms('get', '/v1/jobs/:id', await p.request(`/v1/jobs/${randomUUID()}`));

    const anonymous = await p.app.request('/v1/queues');
    expect(anonymous.status).toBe(401);
    await conforms('get', '/v1/queues', anonymous);
    const { key } = await p.keys.create({ tenant: 'default', name: 'reader', scopes: ['jobs:read'] });
    const forbidden = await p.app.request('/v1/queues/default/pause', withKey(key, { method: 'POST' }));
    expect(forbidden.status).toBe(403);
    await conforms('post', '/v1/queues/:name/pause', forbidden);
  });

  it('matches queues, job types, keys, health and metrics answers', async () => {
    await conforms('get', '/v1/queues', await p.request('/v1/queues'));
    await conforms('post', '/v1/queues/:name/pause', await send('POST', '/v1/queues/http/pause'));
    await conforms('post', '/v1/queues/:name/resume', await send('POST', '/v1/queues/http/resume'));
    await conforms('post', '/v1/queues/:name/pause', await send('POST', '/v1/queues/nope/pause'));
    await conforms('get', '/v1/job-types', await p.request('/v1/job-types'));

    const created = await post('/v1/keys', { name: 'ci', scopes: ['jobs:read'] });
    const { id } = (await conforms('post', '/v1/keys', created)) as { id: string };
    await conforms('get', '/v1/keys', await p.request('/v1/keys'));
    await conforms('delete', '/v1/keys/:id', await send('DELETE', `/v1/keys/${id}`));
    await conforms('delete', '/v1/keys/:id', await send('DELETE', `/v1/keys/${randomUUID()}`));

    await conforms('get', '/health/live', await p.app.request('/health/live'));
    await conforms('get', '/health/ready', await p.app.request('/health/ready'));
    await conforms('get', '/metrics', await p.app.request('/metrics'));
    await conforms('get', '/openapi.json', await p.app.request('/openapi.json'));
  });

  it('matches schedule answers: create, list, get with last runs, pause, delete, and their problems', async () => {
    const created = await post('/v1/schedules', {
      name: 'every second',
      type: 'echo',
      data: { from: 'schedule' },
      everyMs: 1_000,
      limit: 3,
      ttlMs: 60_000,
      callbackUrl: `${receiverBase}/scheduled`,
    });
    expect(created.status).toBe(201);
    const schedule = (await conforms('post', '/v1/schedules', created)) as { id: string; nextRuns: string[] };
    expect(schedule.nextRuns.length).toBeGreaterThan(0);
    const cron = await post('/v1/schedules', {
      type: 'noop',
      cron: '0 9 * * 1-5',
      tz: 'Europe/Paris',
      paused: true,
    });
    expect(cron.status).toBe(201);
    const paused = (await conforms('post', '/v1/schedules', cron)) as { id: string; state: string };
    expect(paused.state).toBe('paused');

    // A run happens: GET shows it under lastRuns, with its job's status.
    let view: { runCount: number; lastRuns?: { jobId: string; status: string }[] } = { runCount: 0 };
    await expect
      .poll(
        async () => {
          view = (await conforms(
            'get',
            '/v1/schedules/:id',
            await p.request(`/v1/schedules/${schedule.id}`),
          )) as typeof view;
          return view.runCount;
        },
        { timeout: 10_000, interval: 200 },
      )
      .toBeGreaterThan(0);
    expect(view.lastRuns?.length).toBeGreaterThan(0);
    await waitForStatus((path) => p.request(path), view.lastRuns?.[0]?.jobId ?? '', ['completed']);
    const withRun = (await conforms(
      'get',
      '/v1/schedules/:id',
      await p.request(`/v1/schedules/${schedule.id}`),
    )) as typeof view;
    expect(withRun.lastRuns?.at(-1)?.status).toBe('completed');

    const page = (await conforms('get', '/v1/schedules', await p.request('/v1/schedules?limit=1'))) as {
      items: unknown[];
      nextCursor: string | null;
    };
    expect(page.items).toHaveLength(1);
    expect(page.nextCursor).not.toBeNull();
    await conforms('get', '/v1/schedules', await p.request(`/v1/schedules?cursor=${page.nextCursor}`));
    await conforms('get', '/v1/schedules', await p.request('/v1/schedules?limit=0'));

    const pausedNow = await patch(`/v1/schedules/${schedule.id}`, { paused: true, name: null });
    expect(pausedNow.status).toBe(200);
    expect(await conforms('patch', '/v1/schedules/:id', pausedNow)).toMatchObject({
      state: 'paused',
      name: null,
      nextRuns: [],
    });
    const bad = await patch(`/v1/schedules/${schedule.id}`, { everyMs: 10 });
    expect(bad.status).toBe(400);
    await conforms('patch', '/v1/schedules/:id', bad);
    const both = await post('/v1/schedules', { type: 'noop', cron: '* * * * *', everyMs: 5_000 });
    expect(both.status).toBe(400);
    await conforms('post', '/v1/schedules', both);

    await conforms('delete', '/v1/schedules/:id', await send('DELETE', `/v1/schedules/${paused.id}`));
    const gone = await p.request(`/v1/schedules/${paused.id}`);
    expect(gone.status).toBe(404);
    await conforms('get', '/v1/schedules/:id', gone);
    await conforms('delete', '/v1/schedules/:id', await send('DELETE', `/v1/schedules/${paused.id}`));
    await conforms('delete', '/v1/schedules/:id', await send('DELETE', `/v1/schedules/${schedule.id}`));
  });

  it('matches webhook, delivery and signing-secret answers; secrets appear only where they are set', async () => {
    const secret = (await conforms(
      'get',
      '/v1/webhooks/signing-secret',
      await p.request('/v1/webhooks/signing-secret'),
    )) as { secret: string };
    const rotated = (await conforms(
      'post',
      '/v1/webhooks/signing-secret/rotate',
      await send('POST', '/v1/webhooks/signing-secret/rotate'),
    )) as { secret: string };
    expect(rotated.secret).not.toBe(secret.secret);

    const created = await post('/v1/webhooks', { url: `${receiverBase}/hook`, types: ['echo'] });
    expect(created.status).toBe(201);
    const hook = (await conforms('post', '/v1/webhooks', created)) as { id: string; secret: string };
    expect(hook.secret).toMatch(/^whsec_/);
    const failing = (await conforms(
      'post',
      '/v1/webhooks',
      await post('/v1/webhooks', {
        url: `${receiverBase}/fail`,
        statuses: ['completed', 'expired'],
        secret: 'a-chosen-secret-of-24ch',
        description: 'always 500',
      }),
    )) as { id: string; secret: string };
    expect(failing.secret).toBe('a-chosen-secret-of-24ch');

    const listed = await conforms('get', '/v1/webhooks', await p.request('/v1/webhooks'));
    expect(JSON.stringify(listed)).not.toContain('"secret"');
    expect(
      await conforms('get', '/v1/webhooks/:id', await p.request(`/v1/webhooks/${hook.id}`)),
    ).not.toHaveProperty('secret');
    expect(
      await conforms(
        'patch',
        '/v1/webhooks/:id',
        await patch(`/v1/webhooks/${hook.id}`, { description: 'echo jobs' }),
      ),
    ).not.toHaveProperty('secret');
    expect(
      await conforms(
        'patch',
        '/v1/webhooks/:id',
        await patch(`/v1/webhooks/${hook.id}`, { secret: 'another-chosen-secret' }),
      ),
    ).toMatchObject({ secret: 'another-chosen-secret' });
    await conforms(
      'patch',
      '/v1/webhooks/:id',
      await patch(`/v1/webhooks/${hook.id}`, { statuses: ['done'] }),
    );
    await conforms('get', '/v1/webhooks/:id', await p.request(`/v1/webhooks/${randomUUID()}`));

    // One job, three deliveries: the echo webhook (delivered), the failing one (given up after
    // its two attempts) and the job's own callbackUrl (delivered).
    const submitted = await post('/v1/jobs', {
      type: 'echo',
      data: 'deliver me',
      ttlMs: 60_000,
      callbackUrl: `${receiverBase}/callback`,
    });
    const { id } = (await submitted.json()) as { id: string };
    const job = await waitForStatus((path) => p.request(path), id, ['completed']);
    expect(job.callbackUrl).toBe(`${receiverBase}/callback`);
    expect(job.expiresAt).not.toBeNull();
    type Delivery = {
      webhookId: string | null;
      status: string;
      attemptLog: { statusCode?: number; error?: string }[];
    };
    let deliveries: Delivery[] = [];
    await expect
      .poll(
        async () => {
          const body = (await conforms(
            'get',
            '/v1/jobs/:id/deliveries',
            await p.request(`/v1/jobs/${id}/deliveries`),
          )) as { items: Delivery[] };
          deliveries = body.items;
          return deliveries.map((d) => d.status).sort();
        },
        { timeout: 10_000, interval: 100 },
      )
      .toEqual(['delivered', 'delivered', 'failed']);
    const failed = deliveries.find((d) => d.webhookId === failing.id);
    expect(failed?.attemptLog).toEqual([
      expect.objectContaining({ statusCode: 500, error: 'answered 500' }),
      expect.objectContaining({ statusCode: 500, error: 'answered 500' }),
    ]);
    expect(deliveries.find((d) => d.webhookId === null)?.attemptLog).toEqual([
      expect.objectContaining({ statusCode: 204 }),
    ]);

    const hookPage = (await conforms(
      'get',
      '/v1/webhooks/:id/deliveries',
      await p.request(`/v1/webhooks/${failing.id}/deliveries?status=failed,pending&limit=1`),
    )) as { items: { jobId: string }[] };
    expect(hookPage.items.map((d) => d.jobId)).toEqual([id]);
    await conforms(
      'get',
      '/v1/webhooks/:id/deliveries',
      await p.request(`/v1/webhooks/${failing.id}/deliveries?status=lost`),
    );
    await conforms('get', '/v1/jobs/:id/deliveries', await p.request(`/v1/jobs/${randomUUID()}/deliveries`));

    // Delivery records and webhooks need admin: a jobs:read key gets 403.
    const { key } = await p.keys.create({
      tenant: 'default',
      name: 'reader',
      scopes: ['jobs:read', 'jobs:write'],
    });
    for (const [method, template, path] of [
      ['get', '/v1/jobs/:id/deliveries', `/v1/jobs/${id}/deliveries`],
      ['get', '/v1/webhooks', '/v1/webhooks'],
      ['get', '/v1/webhooks/signing-secret', '/v1/webhooks/signing-secret'],
    ] as const) {
      const forbidden = await p.app.request(path, withKey(key, { method: method.toUpperCase() }));
      expect(forbidden.status, path).toBe(403);
      await conforms(method, template, forbidden);
    }

    await conforms('delete', '/v1/webhooks/:id', await send('DELETE', `/v1/webhooks/${failing.id}`));
    await conforms('delete', '/v1/webhooks/:id', await send('DELETE', `/v1/webhooks/${failing.id}`));
    await conforms('delete', '/v1/webhooks/:id', await send('DELETE', `/v1/webhooks/${hook.id}`));
  });

  it('matches an expired job, with its expiry and the EXPIRED error', async () => {
    await send('POST', '/v1/queues/default/pause');
    const submitted = await post('/v1/jobs', {
      type: 'echo',
      data: 'too late',
      expiresAt: new Date(Date.now() + 100).toISOString(),
    });
    expect(submitted.status).toBe(202);
    const { id } = (await submitted.json()) as { id: string };
    await sleep(300);
    await send('POST', '/v1/queues/default/resume');
    await waitForStatus((path) => p.request(path), id, ['expired']);
    expect(await conforms('get', '/v1/jobs/:id', await p.request(`/v1/jobs/${id}`))).toMatchObject({
      status: 'expired',
      error: { code: 'EXPIRED' },
    });
    const expired = (await conforms('get', '/v1/jobs', await p.request('/v1/jobs?status=expired'))) as {
      items: { id: string }[];
    };
    expect(expired.items.map((j) => j.id)).toEqual([id]);
  });

  it('matches the streams: SSE content type for one job and for the firehose', async () => {
    const { id } = (await (await post('/v1/jobs', { type: 'echo', data: 1 })).json()) as { id: string };
    await waitForStatus((path) => p.request(path), id, ['completed']);
    await conforms('get', '/v1/jobs/:id/events', await p.request(`/v1/jobs/${id}/events`));
    const controller = new AbortController();
    const firehose = await p.request('/v1/events?status=failed', { signal: controller.signal });
    expect(firehose.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(document.paths['/v1/events']?.get).toHaveProperty([
      'responses',
      '200',
      'content',
      'text/event-stream',
    ]);
    await firehose.body?.cancel();
    controller.abort();
    await conforms('get', '/v1/events', await p.request('/v1/events?status=nope'));
  });
});

describe('the docs UI and the dashboard are served by the API itself', () => {
  it('serves the pages and their assets from this origin only, under a strict CSP', async () => {
    for (const page of ['/docs', '/dashboard']) {
      const response = await p.app.request(page);
      const csp = response.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      const html = (await conforms('get', page, response)) as string;
      // No CDN: every script, stylesheet and icon is a relative URL on the API.
      const urls = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] ?? '');
      expect(urls.length).toBeGreaterThan(1);
      for (const url of urls) expect(url).not.toMatch(/^(https?:)?\/\//);
      // No inline script: the policy would block it.
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      for (const url of urls.filter((u) => u.includes('/assets/'))) {
        const asset = await p.app.request(`/${url}`);
        expect(asset.status, url).toBe(200);
        await conforms(
          'get',
          url.startsWith('docs/') ? '/docs/assets/:file' : '/dashboard/assets/:file',
          asset,
        );
      }
    }
    const missing = await p.app.request('/docs/assets/..%2Fpackage.json');
    expect(missing.status).toBe(404);
    await conforms('get', '/docs/assets/:file', missing);
    const bundle = await p.app.request('/docs/assets/swagger-ui-bundle.js');
    expect(bundle.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await bundle.arrayBuffer()).byteLength).toBeGreaterThan(500_000);
  });
});
