import { type JobView, submitJobBody } from '@conveyor/core/jobs';
import { tenantInFlightKey } from '@conveyor/core/redis';
import { createScheduleBody } from '@conveyor/core/schedules';
import { createWebhookBody } from '@conveyor/core/webhooks';
import { useTestServices } from '@conveyor/dev/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyBody } from '../apps/api/src/routes/keys.js';
import { createPipeline, type Pipeline, type Requester, withKey } from './harness.js';

// Issue 14: every route, every field, the strings that broke Conveyor before. The suite
// asserts 0 answers of 5xx, 0 jobs left queued or running, and 0 reads across tenants.

const services = useTestServices();
let p: Pipeline;
/** Tenant `hostile`'s admin: the attacker, and the owner of every job the suite submits. */
let attacker: Requester;
/** The same tenant with the operator scope, for the shared-queue routes. */
let operator: Requester;
/** Another tenant, which must never see the attacker's jobs. */
let bystander: Requester;
let scheduleId: string;
let webhookId: string;

const hostileStrings = [
  'lone \ud800 high',
  'lone \udc00 low',
  '\udc00\ud800',
  'nul \u0000 inside',
  '\u0000',
  '',
  ' ',
  'x'.repeat(20_000),
  '../../../etc/passwd',
  "'; drop table jobs; --",
  '%00%ff',
  '\u202e\u0301\ufeff',
  '😀 emoji',
  '{"$ne":1}',
  '__proto__',
  '2026-13-45T99:99:99Z',
  '+275760-09-13T00:00:00.000Z',
  'javascript:alert(1)',
  'http://127.0.0.1:6379/',
  'http://[::ffff:169.254.169.254]/',
];
const hostileValues: unknown[] = [
  ...hostileStrings,
  -1,
  0,
  1.5,
  1e308,
  2 ** 53 + 1,
  true,
  null,
  [],
  {},
  [hostileStrings[0]],
  { 'k\ud800': 1 },
  { 'nul\u0000key': 'v' },
  { __proto__: { polluted: true } },
  JSON.parse('{"__proto__":{"polluted":true}}'),
  Array.from({ length: 5_000 }, (_, i) => i),
];
const hostilePathParts = [
  '%00',
  '%ED%A0%80',
  '%F0%9F%98%80',
  '..%2F..%2Fetc',
  encodeURIComponent('\ud83d\ude00'),
  'x'.repeat(5_000),
  '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  '%27%20or%201%3D1',
];
const rawBodies: (string | Uint8Array)[] = [
  '{',
  'null',
  '[]',
  '"x"',
  '1',
  '{"a":1}{',
  '\u0000',
  '['.repeat(10_000),
  '{"type":"echo","data":1e400}',
  '{"type":"echo","data":"\\ud800"}',
  '{"type":"echo","data":"\\u0000"}',
  // The UTF-8 encoding of a lone surrogate (CESU-8), which is not valid UTF-8.
  Uint8Array.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d]),
  Uint8Array.from([0xff, 0xfe, 0x00, 0x7b]),
];

interface Case {
  who: Requester;
  method: string;
  path: string;
  body?: unknown;
  raw?: string | Uint8Array;
  headers?: Record<string, string>;
}

interface Template {
  method: string;
  path: () => string;
  body: Record<string, unknown>;
  fields: string[];
}

const jobBody = { type: 'echo', data: { a: 'x' }, metadata: { k: 'v' } };
/** Every field each body schema declares, so a field added later is covered too. */
const jobFields = [...Object.keys(submitJobBody.entries), 'unknownField'];
const scheduleFields = Object.keys(createScheduleBody.entries);
const webhookFields = Object.keys(createWebhookBody.entries);

const templates = (): Template[] => [
  { method: 'POST', path: () => '/v1/jobs', body: jobBody, fields: jobFields },
  { method: 'POST', path: () => '/v1/jobs/batch', body: { jobs: [jobBody] }, fields: ['jobs'] },
  {
    method: 'POST',
    path: () => '/v1/schedules',
    body: { type: 'noop', cron: '0 0 1 1 *', name: 'yearly' },
    fields: scheduleFields,
  },
  { method: 'PATCH', path: () => `/v1/schedules/${scheduleId}`, body: { name: 'n' }, fields: scheduleFields },
  {
    method: 'POST',
    path: () => '/v1/webhooks',
    body: { url: 'https://example.com/hook' },
    fields: webhookFields,
  },
  {
    method: 'PATCH',
    path: () => `/v1/webhooks/${webhookId}`,
    body: { description: 'd' },
    fields: webhookFields,
  },
  {
    method: 'POST',
    path: () => '/v1/keys',
    body: { name: 'k', scopes: ['jobs:read'] },
    fields: Object.keys(createKeyBody.entries),
  },
];

const queryRoutes: [string, string[]][] = [
  ['/v1/jobs', ['status', 'type', 'queue', 'scheduleId', 'createdAfter', 'createdBefore', 'limit', 'cursor']],
  ['/v1/events', ['type', 'status', 'queue']],
  ['/v1/schedules', ['limit', 'cursor']],
  ['/v1/webhooks/:webhook/deliveries', ['status', 'limit', 'cursor']],
];

const idRoutes: [string, string][] = [
  ['GET', '/v1/jobs/:x'],
  ['GET', '/v1/jobs/:x/events'],
  ['GET', '/v1/jobs/:x/deliveries'],
  ['POST', '/v1/jobs/:x/cancel'],
  ['POST', '/v1/jobs/:x/retry'],
  ['GET', '/v1/schedules/:x'],
  ['DELETE', '/v1/schedules/:x'],
  ['GET', '/v1/webhooks/:x'],
  ['DELETE', '/v1/webhooks/:x'],
  ['GET', '/v1/webhooks/:x/deliveries'],
  ['DELETE', '/v1/keys/:x'],
  ['POST', '/v1/queues/:x/pause'],
  ['POST', '/v1/queues/:x/resume'],
];

/** Every case of the suite: one hostile value in one place at a time. */
function cases(): Case[] {
  const all: Case[] = [];
  for (const t of templates()) {
    for (const field of t.fields) {
      for (const value of hostileValues) {
        all.push({ who: attacker, method: t.method, path: t.path(), body: { ...t.body, [field]: value } });
      }
    }
    for (const value of hostileValues) {
      all.push({ who: attacker, method: t.method, path: t.path(), body: value });
    }
    for (const raw of rawBodies) all.push({ who: attacker, method: t.method, path: t.path(), raw });
  }
  // Inside a batch item, and as a nested key or value of a job's data and metadata.
  for (const field of jobFields) {
    for (const value of hostileValues) {
      all.push({
        who: attacker,
        method: 'POST',
        path: '/v1/jobs/batch',
        body: { jobs: [jobBody, { ...jobBody, [field]: value }] },
      });
    }
  }
  for (const s of hostileStrings) {
    for (const where of ['data', 'metadata'] as const) {
      all.push({
        who: attacker,
        method: 'POST',
        path: '/v1/jobs',
        body: { ...jobBody, [where]: { [s]: s } },
      });
    }
    all.push({
      who: attacker,
      method: 'POST',
      path: '/v1/jobs',
      body: jobBody,
      headers: { 'idempotency-key': latin1(s) },
    });
  }
  for (const [route, params] of queryRoutes) {
    for (const param of params) {
      for (const s of hostileStrings) {
        const path = route.replace(':webhook', webhookId);
        all.push({ who: attacker, method: 'GET', path: `${path}?${param}=${percent(s)}` });
      }
    }
  }
  for (const [method, route] of idRoutes) {
    for (const part of hostilePathParts) {
      const who = route.startsWith('/v1/queues') ? operator : attacker;
      all.push({ who, method, path: route.replace(':x', part) });
    }
  }
  for (const contentType of ['text/plain', 'application/json; charset=utf-16', 'multipart/form-data', '']) {
    all.push({
      who: attacker,
      method: 'POST',
      path: '/v1/jobs',
      raw: JSON.stringify(jobBody),
      headers: { 'content-type': contentType },
    });
  }
  return all;
}

/**
 * `s` percent-encoded; a lone surrogate, which encodeURIComponent refuses, as the bytes of its
 * CESU-8 form (not valid UTF-8), as a client could send it.
 */
function percent(s: string): string {
  return Array.from(s, (ch) => {
    const code = ch.charCodeAt(0);
    if (ch.length === 1 && code >= 0xd800 && code <= 0xdfff) {
      const bytes = [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)];
      return bytes.map((b) => `%${b.toString(16).toUpperCase()}`).join('');
    }
    return encodeURIComponent(ch);
  }).join('');
}

/** A header value fetch can send: characters past U+00FF become '?'. */
function latin1(s: string): string {
  return s.replace(/[^\x20-\xff]/g, '?');
}

async function send(c: Case): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...c.headers };
  if (headers['content-type'] === '') delete headers['content-type'];
  const init: RequestInit = { method: c.method, headers };
  if (c.raw !== undefined) init.body = c.raw;
  else if (c.body !== undefined) init.body = JSON.stringify(c.body);
  else delete headers['content-type'];
  const response = await c.who.request(c.path, init);
  return response;
}

beforeAll(async () => {
  p = await createPipeline(services);
  p.startWorker({ concurrency: 16 });
  const key = async (tenant: string, scopes: ('admin' | 'operator')[]) =>
    (await p.keys.create({ tenant, name: scopes.join('+'), scopes })).key;
  const [attackerKey, operatorKey, bystanderKey] = await Promise.all([
    key('hostile', ['admin']),
    key('hostile', ['admin', 'operator']),
    key('bystander', ['admin']),
  ]);
  const as = (k: string): Requester => ({ request: (path, init) => p.app.request(path, withKey(k, init)) });
  attacker = as(attackerKey);
  operator = as(operatorKey);
  bystander = as(bystanderKey);
  const schedule = await send({
    who: attacker,
    method: 'POST',
    path: '/v1/schedules',
    body: { type: 'noop', cron: '0 0 1 1 *' },
  });
  scheduleId = ((await schedule.json()) as { id: string }).id;
  const webhook = await send({
    who: attacker,
    method: 'POST',
    path: '/v1/webhooks',
    body: { url: 'https://example.com/hook' },
  });
  webhookId = ((await webhook.json()) as { id: string }).id;
});
afterAll(() => p.close());

describe('hostile input on every route and field', { timeout: 240_000 }, () => {
  const accepted = new Set<string>();

  it('answers every case below 500, with problem+json for every refusal', async () => {
    const all = cases();
    expect(all.length).toBeGreaterThan(2_000);
    const failures: string[] = [];
    let next = 0;
    // A few requests at once: enough to race, few enough to keep the file quick.
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = next++; i < all.length; i = next++) {
          const c = all[i] as Case;
          const response = await send(c);
          const label = `${c.method} ${c.path.slice(0, 120)} ${JSON.stringify(c.body ?? c.raw ?? '')?.slice(0, 160)}`;
          const type = response.headers.get('content-type') ?? '';
          if (response.status >= 400 && type !== 'application/problem+json')
            failures.push(`${response.status} without problem+json: ${label}`);
          if (type.startsWith('text/event-stream')) {
            // A stream the case opened: it would never end by itself.
            await response.body?.cancel();
            continue;
          }
          const text = await response.text();
          if (response.status >= 500) failures.push(`${response.status} ${label}: ${text.slice(0, 300)}`);
          if (response.status !== 202 && response.status !== 200) continue;
          const body = (() => {
            try {
              return JSON.parse(text) as { id?: string; items?: { id?: string }[] };
            } catch {
              return {};
            }
          })();
          if (c.path === '/v1/jobs' && c.method === 'POST' && body.id) accepted.add(body.id);
          if (c.path === '/v1/jobs/batch')
            for (const item of body.items ?? []) if (item.id) accepted.add(item.id);
        }
      }),
    );
    expect(failures).toEqual([]);
    expect(accepted.size).toBeGreaterThan(50);
  });

  it('leaves no accepted job queued or running: every one ends', async () => {
    expect(accepted.size, 'the first case ran and accepted jobs').toBeGreaterThan(50);
    const get = (id: string) => attacker.request(`/v1/jobs/${id}`);
    const deadline = Date.now() + 60_000;
    let open = [...accepted];
    while (open.length > 0 && Date.now() < deadline) {
      const views = await Promise.all(open.map(async (id) => (await (await get(id)).json()) as JobView));
      open = views.filter((v) => v.status === 'queued' || v.status === 'active').map((v) => v.id);
      if (open.length > 0) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(open, 'jobs still queued or running').toEqual([]);
    expect(await p.producer.zcard(tenantInFlightKey(services.prefix, 'hostile'))).toBe(0);
  });

  it("never shows the attacker's jobs to another tenant", async () => {
    expect(accepted.size, 'the first case ran and accepted jobs').toBeGreaterThan(50);
    const ids = [...accepted];
    const answers = await Promise.all(
      ids.map(async (id) => (await bystander.request(`/v1/jobs/${id}`)).status),
    );
    expect(answers.filter((s) => s !== 404)).toEqual([]);
    const listed = (await (await bystander.request('/v1/jobs?limit=500')).json()) as { items: JobView[] };
    expect(listed.items.filter((j) => accepted.has(j.id))).toEqual([]);
  });

  it("gives another tenant that reuses the attacker's ids jobs of its own, and leaves the attacker's alone", async () => {
    const ids = [...accepted].slice(0, 50);
    expect(ids).toHaveLength(50);
    const before = await Promise.all(
      ids.map(async (id) => (await (await attacker.request(`/v1/jobs/${id}`)).json()) as JobView),
    );
    for (const id of ids) {
      const response = await bystander.request('/v1/jobs', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id, type: 'echo', data: 'bystander' }),
      });
      expect(response.status).toBe(202);
    }
    const deadline = Date.now() + 30_000;
    let views: JobView[] = [];
    do {
      await new Promise((resolve) => setTimeout(resolve, 100));
      views = await Promise.all(
        ids.map(async (id) => (await (await bystander.request(`/v1/jobs/${id}`)).json()) as JobView),
      );
    } while (views.some((v) => v.status !== 'completed') && Date.now() < deadline);
    expect(views.map((v) => v.result)).toEqual(ids.map(() => 'bystander'));
    const after = await Promise.all(
      ids.map(async (id) => (await (await attacker.request(`/v1/jobs/${id}`)).json()) as JobView),
    );
    expect(after.map((v) => [v.status, v.result])).toEqual(before.map((v) => [v.status, v.result]));
  });
});
