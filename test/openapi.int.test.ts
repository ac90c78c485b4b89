import { randomUUID } from 'node:crypto';
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
const DOC_ID = 'https://conveyor.invalid/openapi.json';
const ajv = new Ajv2020({ strict: false, allErrors: true });
// ajv-formats is CommonJS: module.exports is the plugin, and so is its `default` property.
addFormatsModule.default(ajv);

beforeAll(async () => {
  p = await createPipeline(services);
  p.startWorker();
  const response = await p.app.request('/openapi.json');
  expect(response.status).toBe(200);
  document = (await response.json()) as OpenApiDocument;
  ajv.addSchema(document, DOC_ID);
});
afterAll(() => p.close());

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
