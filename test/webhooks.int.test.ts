import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createClient } from '@conveyor/client';
import { webhooks } from '@conveyor/core/db';
import type { StatusEvent } from '@conveyor/core/events';
import { CALLBACKS_QUEUE } from '@conveyor/core/jobs';
import {
  createWebhookDispatcher,
  type DeliveryJobData,
  type DeliveryView,
  type WebhookView,
} from '@conveyor/core/webhooks';
import { useTestServices } from '@conveyor/dev/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPipeline,
  type Pipeline,
  postJson,
  removeFinishedJob,
  waitForStatus,
  withKey,
} from './harness.js';

const services = useTestServices();
let p: Pipeline;
let receiver: Server;
let base: string;
/** The signature check exactly as the README shows it. */
let verify: (secret: string, header: string, rawBody: string) => boolean;
let recipeDir: string;

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}
const received: Received[] = [];
const hanging: ServerResponse[] = [];
const flakyCount = new Map<string, number>();

const get = (path: string) => p.request(path);
const json = async <T>(response: Response | Promise<Response>): Promise<T> =>
  (await response).json() as Promise<T>;
const at = (path: string) => received.filter((r) => r.path === path);

async function submit(body: unknown): Promise<string> {
  const response = await postJson(p, '/v1/jobs', body);
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

async function createWebhook(body: Record<string, unknown>): Promise<WebhookView & { secret: string }> {
  const response = await postJson(p, '/v1/webhooks', body);
  expect(response.status).toBe(201);
  return (await response.json()) as WebhookView & { secret: string };
}

async function deliveriesOf(jobId: string): Promise<DeliveryView[]> {
  return (await json<{ items: DeliveryView[] }>(get(`/v1/jobs/${jobId}/deliveries`))).items;
}

/** Every delivery of one webhook (one page of up to 200). */
async function deliveriesOfHook(hookId: string): Promise<DeliveryView[]> {
  return (await json<{ items: DeliveryView[] }>(get(`/v1/webhooks/${hookId}/deliveries?limit=200`))).items;
}

/** Waits until the job's delivery (one) has left `pending`. */
async function settledDelivery(jobId: string): Promise<DeliveryView> {
  await expect
    .poll(async () => (await deliveriesOf(jobId))[0]?.status, { timeout: 15_000, interval: 50 })
    .toMatch(/^(delivered|failed)$/);
  const [delivery] = await deliveriesOf(jobId);
  if (!delivery) throw new Error('no delivery');
  return delivery;
}

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      const path = req.url ?? '';
      received.push({ path, headers: req.headers, body });
      if (path === '/hang') {
        hanging.push(res);
        return;
      }
      if (path.startsWith('/flaky/')) {
        const n = (flakyCount.get(path) ?? 0) + 1;
        flakyCount.set(path, n);
        res.writeHead(n <= 2 ? 500 : 200).end();
        return;
      }
      res.writeHead(path === '/gone' ? 410 : 204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

  // The README's signature recipe, run as written.
  const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
  const recipe = /<!-- signature-recipe -->\s*```js\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!recipe) throw new Error('README lacks the signature recipe');
  recipeDir = mkdtempSync(join(tmpdir(), 'conveyor-recipe-'));
  writeFileSync(join(recipeDir, 'verify.mjs'), recipe);
  ({ verifyConveyorSignature: verify } = await import(pathToFileURL(join(recipeDir, 'verify.mjs')).href));

  p = await createPipeline(services);
  p.startWorker({ deliveries: { maxAttempts: 3, backoffMs: 50, timeoutMs: 300 } });
});
afterAll(async () => {
  for (const res of hanging) res.destroy();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
  receiver.closeAllConnections();
  await p.close();
  rmSync(recipeDir, { recursive: true, force: true });
});

describe('webhooks', () => {
  it('POSTs one signed event per terminal job to a matching webhook; the README recipe verifies it', async () => {
    const hook = await createWebhook({ url: `${base}/all`, description: 'everything' });
    expect(hook.secret).toMatch(/^whsec_/);
    const listed = await json<{ items: WebhookView[] }>(get('/v1/webhooks'));
    expect(listed.items.map((w) => w.id)).toContain(hook.id);
    expect(JSON.stringify(listed)).not.toContain(hook.secret);
    expect(JSON.stringify(await json(get(`/v1/webhooks/${hook.id}`)))).not.toContain(hook.secret);

    const completed = [await submit({ type: 'echo', data: 1 }), await submit({ type: 'echo', data: 2 })];
    const failed = await submit({ type: 'test.fail', data: { message: 'no' }, attempts: 1 });
    const cancelled = await submit({ type: 'noop', delayMs: 60_000 });
    expect((await postJson(p, `/v1/jobs/${cancelled}/cancel`, {})).status).toBe(200);
    const ids = [...completed, failed, cancelled];
    for (const id of ids) await waitForStatus(get, id, ['completed', 'failed', 'cancelled']);

    await expect.poll(() => at('/all').length, { timeout: 10_000 }).toBe(4);
    await sleep(500); // and nothing more arrives
    const posts = at('/all');
    expect(posts).toHaveLength(4);
    const events = posts.map((r) => JSON.parse(r.body) as StatusEvent);
    expect(events.map((e) => e.jobId).sort()).toEqual([...ids].sort());
    const statusOf = Object.fromEntries(events.map((e) => [e.jobId, e.status]));
    expect(statusOf).toEqual({
      [completed[0] as string]: 'completed',
      [completed[1] as string]: 'completed',
      [failed]: 'failed',
      [cancelled]: 'cancelled',
    });
    expect(events.find((e) => e.jobId === completed[0])).toMatchObject({
      tenant: 'default',
      type: 'echo',
      result: 1,
    });
    for (const post of posts) {
      const signature = String(post.headers['conveyor-signature']);
      expect(signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
      expect(post.headers['content-type']).toBe('application/json');
      expect(post.headers['conveyor-delivery-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(verify(hook.secret, signature, post.body)).toBe(true);
      expect(verify(hook.secret, signature, post.body.replace('"tenant"', '"tenant" '))).toBe(false);
      expect(verify('whsec_someone-else', signature, post.body)).toBe(false);
    }

    const deliveries = await json<{ items: DeliveryView[] }>(get(`/v1/webhooks/${hook.id}/deliveries`));
    expect(deliveries.items).toHaveLength(4);
    for (const d of deliveries.items) {
      expect(d).toMatchObject({ webhookId: hook.id, status: 'delivered', attempts: 1, lastStatusCode: 204 });
    }
    expect((await p.request(`/v1/webhooks/${hook.id}`, { method: 'DELETE' })).status).toBe(204);
  });

  it('sends only the types and statuses a webhook asks for', async () => {
    await createWebhook({ url: `${base}/failed-fails`, types: ['test.fail'], statuses: ['failed'] });
    const fail = await submit({ type: 'test.fail', data: {}, attempts: 1 });
    const echo = await submit({ type: 'echo', data: 'x' });
    await waitForStatus(get, fail, ['failed']);
    await waitForStatus(get, echo, ['completed']);
    await expect.poll(() => at('/failed-fails').length).toBe(1);
    await sleep(300);
    expect(at('/failed-fails').map((r) => (JSON.parse(r.body) as StatusEvent).jobId)).toEqual([fail]);
  });

  it('redelivers a failed delivery as a new one, to the fixed receiver, signed again', async () => {
    const hook = await createWebhook({ url: `${base}/gone`, types: ['echo'] });
    const job = await submit({ type: 'echo', data: 'again' });
    await waitForStatus(get, job, ['completed']);
    // 410 three times (maxAttempts 3 here): the delivery gives up.
    await expect
      .poll(async () => (await deliveriesOf(job)).find((d) => d.webhookId === hook.id)?.status, {
        timeout: 10_000,
      })
      .toBe('failed');
    const [failed] = (
      await json<{ items: DeliveryView[] }>(get(`/v1/webhooks/${hook.id}/deliveries?status=failed`))
    ).items;
    expect(failed).toMatchObject({ jobId: job, attempts: 3, lastStatusCode: 410, lastError: 'answered 410' });
    if (!failed) throw new Error('no failed delivery');
    const redeliver = (hookId: string, deliveryId: string, key = p.apiKey) =>
      p.app.request(
        `/v1/webhooks/${hookId}/deliveries/${deliveryId}/redeliver`,
        withKey(key, { method: 'POST' }),
      );

    // The receiver is fixed (the webhook now points where 204 answers), then the delivery is sent again.
    await p.request(`/v1/webhooks/${hook.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: `${base}/fixed` }),
    });
    // Through the TypeScript client, which the README documents.
    const client = createClient({
      url: 'http://api.test',
      apiKey: p.apiKey,
      fetch: ((input: string, init?: RequestInit) => p.app.request(input, init)) as typeof fetch,
    });
    const again = await client.webhooks.redeliver(hook.id, failed.id);
    expect(again).toMatchObject({
      status: 'pending',
      redeliveryOf: failed.id,
      url: `${base}/fixed`,
      jobId: job,
    });
    expect(again.id).not.toBe(failed.id);
    await expect.poll(() => at('/fixed').length, { timeout: 10_000 }).toBe(1);
    const [post] = at('/fixed');
    expect(JSON.parse(post?.body ?? '{}')).toEqual(failed.event);
    expect(post?.headers['conveyor-delivery-id']).toBe(again.id);
    expect(verify(hook.secret, String(post?.headers['conveyor-signature']), post?.body ?? '')).toBe(true);
    await expect
      .poll(async () => (await deliveriesOfHook(hook.id)).find((d) => d.id === again.id)?.status)
      .toBe('delivered');
    // The original stays as it was.
    const original = (await deliveriesOfHook(hook.id)).find((d) => d.id === failed.id);
    expect(original).toMatchObject({ status: 'failed', attempts: 3, redeliveryOf: null });

    // Unknown, malformed, another webhook's or another tenant's delivery; a disabled webhook.
    const other = await createWebhook({ url: `${base}/other`, types: ['noop'] });
    const problem = async (r: Response) => [r.status, ((await r.json()) as { code: string }).code];
    expect(await problem(await redeliver(hook.id, randomUUID()))).toEqual([404, 'DELIVERY_NOT_FOUND']);
    expect(await problem(await redeliver(other.id, failed.id))).toEqual([404, 'DELIVERY_NOT_FOUND']);
    const bad = await redeliver(hook.id, 'nope');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: { path: string }[] }).errors[0]?.path).toBe('deliveryId');
    const stranger = (await p.keys.create({ tenant: 'other', name: 'r', scopes: ['admin'] })).key;
    expect(await problem(await redeliver(hook.id, failed.id, stranger))).toEqual([404, 'WEBHOOK_NOT_FOUND']);
    const reader = (await p.keys.create({ tenant: 'default', name: 'r', scopes: ['jobs:write'] })).key;
    expect((await redeliver(hook.id, failed.id, reader)).status).toBe(403);
    await p.request(`/v1/webhooks/${hook.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ enabled: false }),
    });
    expect(await problem(await redeliver(hook.id, failed.id))).toEqual([409, 'CONFLICT']);
    expect(at('/fixed')).toHaveLength(1);
    for (const id of [hook.id, other.id]) await p.request(`/v1/webhooks/${id}`, { method: 'DELETE' });
  });

  it('refuses bad webhooks with 400 naming the field, and keeps them per tenant', async () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ url: 'ftp://example.com/x' }, 'url'],
      [{ url: 'not a url' }, 'url'],
      [{ url: `${base}/x`, types: ['nope'] }, 'types'],
      [{ url: `${base}/x`, statuses: ['active'] }, 'statuses.0'],
      [{ url: `${base}/x`, secret: 'short' }, 'secret'],
      [{ url: `${base}/x`, colour: 'red' }, 'colour'],
    ];
    for (const [body, path] of bad) {
      const response = await postJson(p, '/v1/webhooks', body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(((await response.json()) as { errors: { path: string }[] }).errors.map((e) => e.path)).toContain(
        path,
      );
    }
    const hook = await createWebhook({ url: `${base}/mine`, enabled: false });
    const other = (await p.keys.create({ tenant: 'other', name: 'o', scopes: ['admin'] })).key;
    expect((await p.app.request(`/v1/webhooks/${hook.id}`, withKey(other))).status).toBe(404);
    expect((await p.app.request(`/v1/webhooks/${hook.id}/deliveries`, withKey(other))).status).toBe(404);
    expect(
      (await p.app.request(`/v1/webhooks/${hook.id}`, withKey(other, { method: 'DELETE' }))).status,
    ).toBe(404);
    const otherList = await json<{ items: WebhookView[] }>(p.app.request('/v1/webhooks', withKey(other)));
    expect(otherList.items).toEqual([]);
    const writer = (await p.keys.create({ tenant: 'default', name: 'w', scopes: ['jobs:write'] })).key;
    expect((await p.app.request('/v1/webhooks', withKey(writer))).status).toBe(403);
    const patched = await p.request(`/v1/webhooks/${hook.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ statuses: ['failed'], description: null }),
    });
    expect(await patched.json()).toMatchObject({ statuses: ['failed'], enabled: false, description: null });
  });
});

describe("a job's own callbackUrl", () => {
  it("POSTs a job's terminal event to its callbackUrl, signed with the tenant's signing secret", async () => {
    const { secret } = await json<{ secret: string }>(get('/v1/webhooks/signing-secret'));
    expect((await json<{ secret: string }>(get('/v1/webhooks/signing-secret'))).secret).toBe(secret);
    const id = await submit({ type: 'echo', data: { hello: 'cb' }, callbackUrl: `${base}/cb` });
    expect(await waitForStatus(get, id, ['completed'])).toMatchObject({ callbackUrl: `${base}/cb` });
    await expect.poll(() => at('/cb').length).toBe(1);
    const [post] = at('/cb');
    expect(JSON.parse(post?.body ?? '')).toMatchObject({
      jobId: id,
      status: 'completed',
      result: { hello: 'cb' },
    });
    expect(verify(secret, String(post?.headers['conveyor-signature']), post?.body ?? '')).toBe(true);
    const delivery = await settledDelivery(id);
    expect(delivery).toMatchObject({ webhookId: null, url: `${base}/cb`, status: 'delivered', attempts: 1 });

    // A re-run of the job after its delivery left Redis (a crash between its row and its
    // acknowledgement) enqueues the same delivery again: it is not sent twice.
    const callbacks = p.queues.internal<DeliveryJobData>(CALLBACKS_QUEUE);
    await removeFinishedJob(callbacks, delivery.id);
    const dispatcher = createWebhookDispatcher({ database: p.database, queue: callbacks });
    const event = JSON.parse(post?.body ?? '') as StatusEvent;
    expect(await dispatcher.dispatch(event, { generation: 0, callbackUrl: `${base}/cb` })).toBe(1);
    await expect.poll(async () => (await callbacks.getJob(delivery.id))?.getState()).toBe('completed');
    expect(at('/cb')).toHaveLength(1);
    expect(await settledDelivery(id)).toMatchObject({ status: 'delivered', attempts: 1 });
  });

  it('retries a receiver that answers 500 twice, then 200, to success', async () => {
    const id = await submit({ type: 'echo', data: 'flaky', callbackUrl: `${base}/flaky/a` });
    const delivery = await settledDelivery(id);
    expect(delivery).toMatchObject({
      status: 'delivered',
      attempts: 3,
      lastStatusCode: 200,
      lastError: null,
    });
    expect(delivery.attemptLog.map((a) => a.statusCode)).toEqual([500, 500, 200]);
    expect(delivery.attemptLog.map((a) => a.error)).toEqual(['answered 500', 'answered 500', undefined]);
    const posts = at('/flaky/a');
    expect(posts.map((r) => r.headers['conveyor-attempt'])).toEqual(['1', '2', '3']);
    // One delivery, retried: the same id and body every time, signed afresh.
    expect(new Set(posts.map((r) => r.headers['conveyor-delivery-id'])).size).toBe(1);
    expect(new Set(posts.map((r) => r.body)).size).toBe(1);
  });

  it('gives up on a receiver that never answers after the bounded attempts, each recorded', async () => {
    const id = await submit({ type: 'echo', data: 'hang', callbackUrl: `${base}/hang` });
    const delivery = await settledDelivery(id);
    expect(delivery).toMatchObject({ status: 'failed', attempts: 3, lastStatusCode: null });
    expect(delivery.attemptLog).toHaveLength(3);
    for (const attempt of delivery.attemptLog) {
      expect(attempt.error).toBe('no answer within 300 ms');
      expect(attempt.durationMs).toBeGreaterThanOrEqual(290);
    }
    expect(at('/hang')).toHaveLength(3);
    await sleep(300);
    expect(at('/hang')).toHaveLength(3);
    expect(await p.workerMetrics?.registry.metrics()).toMatch(
      /conveyor_callback_attempts_total\{outcome="failed"\} [1-9]/,
    );
  });

  it('retries any non-2xx answer, and refuses private targets that are not allow-listed without retrying', async () => {
    const gone = await submit({ type: 'echo', data: 'gone', callbackUrl: `${base}/gone` });
    expect(await settledDelivery(gone)).toMatchObject({ status: 'failed', attempts: 3, lastStatusCode: 410 });
    // A webhook stored before the API checked targets (or one whose name now resolves to a
    // refused address): the worker's guard refuses each delivery, without retrying.
    const [hook] = await p.database.db
      .insert(webhooks)
      .values({
        id: randomUUID(),
        tenant: 'default',
        url: 'http://169.254.169.254/latest',
        secret: 's',
        types: ['echo'],
      })
      .returning();
    const id = await submit({ type: 'echo', data: 'ssrf' });
    await expect
      .poll(async () => (await deliveriesOf(id)).find((d) => d.webhookId === hook?.id)?.status, {
        timeout: 15_000,
      })
      .toBe('failed');
    const refused = (await deliveriesOf(id)).find((d) => d.webhookId === hook?.id);
    expect(refused).toMatchObject({ status: 'failed', attempts: 1 });
    expect(refused?.lastError).toContain('HTTP_ALLOWLIST');
    await p.database.db.delete(webhooks).where(eq(webhooks.id, hook?.id ?? ''));
  });

  it('refuses at creation (400 naming HTTP_ALLOWLIST) a callbackUrl or webhook the guard would always refuse', async () => {
    const targets = [
      'http://169.254.169.254/latest',
      'http://10.0.0.7/hook',
      'http://192.168.1.5/x',
      'http://[::1]/x',
    ];
    for (const url of targets) {
      const job = await postJson(p, '/v1/jobs', { type: 'echo', data: 1, callbackUrl: url });
      expect(job.status, url).toBe(400);
      const problem = (await job.json()) as { errors: { path: string; message: string }[] };
      expect(problem.errors).toHaveLength(1);
      expect(problem.errors[0]?.path).toBe('callbackUrl');
      expect(problem.errors[0]?.message).toContain('HTTP_ALLOWLIST');
      const hook = await postJson(p, '/v1/webhooks', { url, types: ['echo'] });
      expect(hook.status, url).toBe(400);
      expect(((await hook.json()) as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual([
        'url',
      ]);
      const schedule = await postJson(p, '/v1/schedules', {
        type: 'noop',
        everyMs: 60_000,
        callbackUrl: url,
      });
      expect(schedule.status, url).toBe(400);
    }
    // The same address allow-listed (the tests' receivers on 127.0.0.1) is accepted.
    const allowed = await postJson(p, '/v1/webhooks', { url: `${base}/ok`, types: ['noop'], enabled: false });
    expect(allowed.status).toBe(201);
  });

  it('rejects a callbackUrl that is not an http(s) URL', async () => {
    for (const callbackUrl of ['file:///etc/passwd', 'javascript:alert(1)', 'nope']) {
      const response = await postJson(p, '/v1/jobs', { type: 'noop', callbackUrl });
      expect(response.status).toBe(400);
      const { errors } = (await response.json()) as { errors: { path: string }[] };
      expect(new Set(errors.map((e) => e.path))).toEqual(new Set(['callbackUrl']));
    }
  });
});
