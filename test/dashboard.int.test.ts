import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { useTestServices } from '@conveyor/dev/testing';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPipeline,
  type Pipeline,
  postJson,
  type Requester,
  type ServedApp,
  serveOnFreePort,
  waitForStatus,
} from './harness.js';
import { countColour, decodePng } from './png.js';
import { hasTool } from './tools.js';

/**
 * The dashboard and the API reference in a real browser: Debian's Chromium driven by
 * playwright-core, against the API served over HTTP with its real security headers.
 * CI installs and requires chromium (.ci/run); elsewhere the file is skipped, and the run's
 * last summary line says so (test/tool-reporter.ts).
 */
const CHROMIUM = '/usr/bin/chromium';
const available = hasTool('chromium');

const artifacts = fileURLToPath(new URL('./artifacts/', import.meta.url));
const services = useTestServices();
let p: Pipeline;
let served: ServedApp;
let base: string;
let browser: Browser;
let page: Page;
/** Console errors and uncaught exceptions of the page: a CSP violation shows up here. */
const problems: string[] = [];

beforeAll(async () => {
  if (!available) return;
  p = await createPipeline(services);
  served = await serveOnFreePort(p.app);
  base = served.url;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking'],
  });
  // en-US: counts the page shows read "1,010".
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 }, locale: 'en-US' });
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()} (${message.location().url})`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  mkdirSync(artifacts, { recursive: true });
});

afterAll(async () => {
  if (!available) return;
  await browser?.close();
  await p?.close();
  await served?.close();
});

/** Polls until `read` returns `expected` (Playwright's own expect is not part of playwright-core). */
async function until<T>(read: () => Promise<T>, expected: T, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read();
    if (last === expected) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(
    `expected ${JSON.stringify(expected)}, still ${JSON.stringify(last)} after ${timeoutMs} ms`,
  );
}

const text = (locator: Locator) => async () => ((await locator.textContent()) ?? '').trim();
/** The served API over real HTTP, with the pipeline's key (p.request calls the app in-process). */
const overHttp: Requester = {
  request: (path, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${p.apiKey}`);
    return fetch(`${base}${path}`, { ...init, headers });
  },
};

interface FlowAnswer {
  id: string;
  nodes: { id: string; type: string; parentId: string | null; status: string }[];
}
/** The cell of `column` (0-based) in the row of queue `name`. */
const queueCell = (name: string, column: number) =>
  page.locator(`#queues tr[data-queue="${name}"] td`).nth(column);

describe.skipIf(!available)('the dashboard in Chromium', () => {
  it('connects with an API key, shows depth changing after submits, and retries a failed job by clicking', async () => {
    await page.goto(`${base}/dashboard`);
    await page.locator('#key').fill(p.apiKey);
    await page.getByRole('button', { name: 'Connect' }).click();
    await page.locator('#queues tr[data-queue="default"]').waitFor();
    expect(await text(queueCell('default', 1))()).toBe('0');

    // No worker yet: three submits wait in the default queue, and the page shows it.
    for (let i = 0; i < 3; i++) {
      expect((await postJson(p, '/v1/jobs', { type: 'sleep', data: { ms: 50 } })).status).toBe(202);
    }
    await until(text(queueCell('default', 1)), '3');
    expect((await p.queues.get('default').getJobCounts('wait')).wait).toBe(3);
    await until(text(page.locator('#stat-waiting')), '3');
    await until(text(page.locator('#live')), 'live');

    // A job that expires before any worker takes it: listed with the failed ones.
    const late = await postJson(p, '/v1/jobs', { type: 'echo', data: 'late', ttlMs: 1 });
    const { id: lateId } = (await late.json()) as { id: string };
    await new Promise((resolve) => setTimeout(resolve, 20));

    // A job that fails its only attempt; the worker drains the queue too.
    const submitted = await postJson(p, '/v1/jobs', {
      type: 'test.flaky',
      data: { failures: 1 },
      attempts: 1,
    });
    const { id } = (await submitted.json()) as { id: string };
    // Deliveries give up after two tries 50 ms apart, so a failed delivery shows up quickly.
    p.startWorker({ deliveries: { maxAttempts: 2, backoffMs: 50 } });
    await waitForStatus((path) => p.request(path), id, ['failed']);
    await until(text(queueCell('default', 1)), '0');

    await waitForStatus((path) => p.request(path), lateId, ['expired']);
    const expiredRow = page.locator(`#failed-jobs tr[data-job="${lateId}"][data-status="expired"]`);
    await expiredRow.waitFor();
    expect(await expiredRow.locator('.error-text').textContent()).toContain('not started before it expired');
    expect(await expiredRow.getByRole('button', { name: 'Retry' }).count()).toBe(1);

    const failedRow = page.locator(`#failed-jobs tr[data-job="${id}"]`);
    await failedRow.waitFor();
    expect(await failedRow.locator('.error-text').textContent()).toContain('planned failure 1');
    await failedRow.getByRole('button', { name: 'Retry' }).click();

    // The retry runs attempt 2, which this type lets succeed.
    const view = await waitForStatus((path) => p.request(path), id, ['completed']);
    expect(view.attempts).toBe(2);
    await page.locator(`#recent-jobs tr[data-job="${id}"][data-status="completed"]`).waitFor();
    await failedRow.waitFor({ state: 'detached' });
    // Completions arrived over the event stream and feed the throughput figure.
    await until(async () => (await text(page.locator('#stat-rate'))()) !== '0.00/s', true);

    await page.screenshot({ path: `${artifacts}dashboard.png`, fullPage: true });
    expect(problems).toEqual([]);
  });

  it('pauses and resumes a queue from its row', async () => {
    const row = page.locator('#queues tr[data-queue="http"]');
    await row.getByRole('button', { name: 'Pause' }).click();
    await row.locator('.pill.paused').waitFor();
    expect(await p.queues.get('http').isPaused()).toBe(true);
    await row.getByRole('button', { name: 'Resume' }).click();
    await row.locator('.pill.paused').waitFor({ state: 'detached' });
    expect(await p.queues.get('http').isPaused()).toBe(false);
    expect(problems).toEqual([]);
  });

  it("shows each queue's rate limit and global concurrency as PATCH /v1/queues/:name/limits sets them", async () => {
    const limits = page.locator('#queues tr[data-queue="http"] td.limits');
    await until(text(limits), '–');
    const patch = (body: unknown) =>
      p.request('/v1/queues/http/limits', {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await patch({ rateLimit: { max: 100, durationMs: 60_000 }, concurrency: 4 })).status).toBe(200);
    await until(text(limits), '100 / 1 min · 4 at once');
    expect(await limits.getAttribute('title')).toBe(
      'at most 100 jobs started per 1 min, at most 4 running at once, across every worker',
    );
    expect(await text(page.locator('#queues tr[data-queue="default"] td.limits'))()).toBe('–');

    // Each limit removed in turn (null), for the tests after this one.
    expect((await patch({ concurrency: null })).status).toBe(200);
    await until(text(limits), '100 / 1 min');
    expect((await patch({ rateLimit: null })).status).toBe(200);
    await until(text(limits), '–');
    expect(await limits.getAttribute('title')).toBe('No rate limit or global concurrency');
    expect(problems).toEqual([]);
  });

  it("shows the last hour's outcomes apart (failed, cancelled, expired) and per minute, as GET /v1/stats counts them", async () => {
    const failing = await postJson(p, '/v1/jobs', {
      type: 'test.fail',
      data: { message: 'no' },
      attempts: 1,
    });
    const failedId = ((await failing.json()) as { id: string }).id;
    const delayed = await postJson(p, '/v1/jobs', { type: 'noop', delayMs: 60_000 });
    const cancelledId = ((await delayed.json()) as { id: string }).id;
    // Cancelled from the page: its row's button.
    const row = page.locator(`#recent-jobs tr[data-job="${cancelledId}"]`);
    await row.getByRole('button', { name: 'Cancel' }).click();
    await waitForStatus((path) => p.request(path), cancelledId, ['cancelled']);
    await waitForStatus((path) => p.request(path), failedId, ['failed']);

    const stats = (await (await p.request('/v1/stats')).json()) as {
      totals: { completed: number; failed: number; cancelled: number; expired: number };
    };
    expect(stats.totals.failed).toBeGreaterThanOrEqual(1);
    expect(stats.totals.cancelled).toBe(1);
    expect(stats.totals.expired).toBe(1);
    const { totals } = stats;
    await until(text(page.locator('#stat-failed')), String(totals.failed), 20_000);
    expect(await text(page.locator('#stat-cancelled'))()).toBe(String(totals.cancelled));
    expect(await text(page.locator('#stat-expired'))()).toBe(String(totals.expired));
    expect(await text(page.locator('#stat-completed'))()).toBe(String(totals.completed));
    expect(await text(page.locator('.stat', { hasText: 'Throughput' }).locator('.label'))()).toContain(
      'last 60 s',
    );
    // BullMQ's failed set holds the cancelled job too: the queue column says so.
    expect(await page.locator('#queues th', { hasText: 'Failed or cancelled' }).count()).toBe(1);

    // The per-minute chart draws every finished job of the hour.
    const chart = page.locator('#chart-minutes');
    const all = totals.completed + totals.failed + totals.cancelled + totals.expired;
    expect(await chart.getAttribute('data-total')).toBe(String(all));
    expect(await chart.locator('rect.bad').count()).toBeGreaterThanOrEqual(1);
    const shot = decodePng(await chart.screenshot({ path: `${artifacts}dashboard-minutes.png` }));
    expect(countColour(shot, '#1f9d55')).toBeGreaterThan(20); // completed bars
    expect(countColour(shot, '#d64545')).toBeGreaterThan(20); // failed bars
    expect(countColour(shot, '#c98a00')).toBeGreaterThan(20); // cancelled or expired bars
    expect(problems).toEqual([]);
  });

  it('lists the internal queues with their depth', async () => {
    for (const name of ['schedules', 'callbacks']) {
      await page.locator(`#internal-queues tr[data-queue="${name}"]`).waitFor();
    }
    const completed = (await p.queues.internal('callbacks').getJobCounts('completed')).completed;
    await until(
      text(page.locator('#internal-queues tr[data-queue="callbacks"] td').nth(5)),
      String(completed),
    );
    // The job queues' table holds no internal queue.
    expect(await page.locator('#queues tr[data-queue="callbacks"]').count()).toBe(0);
  });

  it('shows schedules with their next and last runs, and pauses and resumes one from its row', async () => {
    const created = await postJson(p, '/v1/schedules', {
      name: 'every-second',
      type: 'noop',
      everyMs: 1_000,
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const row = page.locator(`#schedules tr[data-schedule="${id}"]`);
    await row.waitFor();
    expect(await text(row.locator('td').nth(2))()).toBe('every 1 s');
    expect(await text(row.locator('.next-run'))()).toMatch(/^(now|in \d+s)$/);
    // The worker runs it: the row shows the last run once there is one.
    await until(async () => /ago$/.test(await text(row.locator('.last-run'))()), true, 15_000);

    await row.getByRole('button', { name: 'Pause' }).click();
    await page.locator(`#schedules tr[data-schedule="${id}"][data-state="paused"]`).waitFor();
    expect(await text(row.locator('.next-run'))()).toBe('–');
    const paused = (await (await p.request(`/v1/schedules/${id}`)).json()) as {
      paused: boolean;
      state: string;
    };
    expect(paused).toMatchObject({ paused: true, state: 'paused' });
    await row.getByRole('button', { name: 'Resume' }).click();
    await page.locator(`#schedules tr[data-schedule="${id}"][data-state="active"]`).waitFor();
    expect(((await (await p.request(`/v1/schedules/${id}`)).json()) as { paused: boolean }).paused).toBe(
      false,
    );
    await page.locator('#schedules').screenshot({ path: `${artifacts}dashboard-schedules.png` });
    expect((await p.request(`/v1/schedules/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect(problems).toEqual([]);
  });

  it("shows webhooks and the deliveries they gave up on, with the last error, and redelivers one once it's fixed", async () => {
    let answer = 503;
    const posts: string[] = [];
    const receiver = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        posts.push(req.url ?? '');
        res.writeHead(answer).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      const created = await postJson(p, '/v1/webhooks', { url, types: ['echo'] });
      expect(created.status).toBe(201);
      const hook = (await created.json()) as { id: string };
      const job = (await (await postJson(p, '/v1/jobs', { type: 'echo', data: 'hi' })).json()) as {
        id: string;
      };
      await waitForStatus((path) => p.request(path), job.id, ['completed']);

      const hookRow = page.locator(`#webhooks tr[data-webhook="${hook.id}"]`);
      await hookRow.waitFor();
      await until(text(hookRow.locator('td').nth(4)), '1', 15_000);
      const failedRow = page.locator('#failed-deliveries tr[data-delivery]', { hasText: url });
      await failedRow.waitFor();
      expect(await text(failedRow.locator('.error-text'))()).toBe('answered 503');
      expect(await text(failedRow.locator('td').nth(3))()).toBe('echo completed');
      expect(await text(failedRow.locator('td').nth(4))()).toBe('2');
      const shot = decodePng(
        await page.locator('#failed-deliveries').screenshot({ path: `${artifacts}dashboard-deliveries.png` }),
      );
      expect(countColour(shot, '#d64545', 40)).toBeGreaterThan(10); // the red error text
      expect(posts).toHaveLength(2);

      // The receiver is fixed; Redeliver sends the event again and the row leaves the list.
      answer = 204;
      await failedRow.getByRole('button', { name: 'Redeliver' }).click();
      await until(() => Promise.resolve(posts.length), 3, 10_000);
      await failedRow.waitFor({ state: 'detached', timeout: 15_000 });
      expect(await text(hookRow.locator('td').nth(4))()).toBe('0');
      const deliveries = (await (await p.request(`/v1/webhooks/${hook.id}/deliveries`)).json()) as {
        items: { status: string; redeliveryOf: string | null }[];
      };
      expect(deliveries.items.map((d) => [d.status, d.redeliveryOf !== null]).sort()).toEqual([
        ['delivered', true],
        ['failed', false],
      ]);
      await page.screenshot({ path: `${artifacts}dashboard-full.png`, fullPage: true });
      expect((await p.request(`/v1/webhooks/${hook.id}`, { method: 'DELETE' })).status).toBe(204);
      expect(problems).toEqual([]);
    } finally {
      await new Promise((resolve) => receiver.close(resolve));
    }
  });

  it("shows a flow node's tree in its details, nested with each node's status, and opens a child from it", async () => {
    // The worker the first test started runs the flow: the children, then the root.
    const submitted = await postJson(overHttp, '/v1/flows', {
      type: 'noop',
      children: [
        { type: 'echo', data: 'left' },
        { type: 'echo', data: 'right' },
      ],
    });
    expect(submitted.status).toBe(202);
    const flow = (await submitted.json()) as FlowAnswer;
    const [root, left, right] = flow.nodes.map((node) => node.id);
    expect(flow.nodes.map((node) => [node.type, node.parentId])).toEqual([
      ['noop', null],
      ['echo', root],
      ['echo', root],
    ]);
    await waitForStatus((path) => overHttp.request(path), root as string, ['completed']);
    const view = (await (await overHttp.request(`/v1/jobs/${root}`)).json()) as { flowId: string };
    expect(view.flowId).toBe(root);

    // The root's row, opened as a user does: a click on its id.
    const rootRow = page.locator(`#recent-jobs tr[data-job="${root}"][data-status="completed"]`);
    await rootRow.waitFor();
    await rootRow.getByRole('button', { name: root?.slice(0, 8) }).click();
    const details = page.locator(`#recent-jobs tr[data-details="${root}"]`);
    const tree = details.locator('.flow-tree');
    await tree.waitFor();

    // Three nodes, the two children in a list inside the root's item, each completed.
    expect(await tree.locator('li').count()).toBe(3);
    const rootItem = tree.locator(`:scope > li[data-job="${root}"]`);
    const childItems = rootItem.locator(':scope > ul > li');
    expect(await childItems.count()).toBe(2);
    expect([
      await childItems.nth(0).getAttribute('data-job'),
      await childItems.nth(1).getAttribute('data-job'),
    ]).toEqual([left, right]);
    for (const [item, type] of [
      [rootItem, 'noop'],
      [childItems.nth(0), 'echo'],
      [childItems.nth(1), 'echo'],
    ] as const) {
      const node = item.locator(':scope > .flow-node');
      expect(await text(node.locator('.type'))()).toBe(type);
      expect(await text(node.locator('.pill.completed'))()).toBe('completed');
    }
    expect(await text(rootItem.locator(':scope > .flow-node .mono'))()).toBe(root?.slice(0, 8));
    await until(text(details.locator('.flow h4 .pill.completed')), 'completed');
    // The job shown is marked, and is the only node that is not a button.
    const current = rootItem.locator(':scope > .flow-node');
    expect(await current.getAttribute('aria-current')).toBe('true');
    expect(await tree.locator('[aria-current]').count()).toBe(1);
    expect(await tree.locator('button.flow-node').count()).toBe(2);
    // Nested on screen too: the children are indented from the root.
    const rootBox = await current.boundingBox();
    const childBox = await childItems.nth(0).locator(':scope > .flow-node').boundingBox();
    expect(childBox && rootBox && childBox.x - rootBox.x).toBeGreaterThan(10);
    await details.screenshot({ path: `${artifacts}dashboard-flow.png` });

    // A click on a child opens the child's details, with the same tree marking the child.
    await childItems.nth(0).locator(':scope > button.flow-node').click();
    const childDetails = page.locator(`#recent-jobs tr[data-details="${left}"]`);
    await childDetails.waitFor();
    expect(await text(childDetails.locator('pre'))()).toContain('"data": "left"');
    const marked = childDetails.locator('.flow-tree li:has(> [aria-current="true"])');
    expect(await marked.getAttribute('data-job')).toBe(left);
    expect(await childDetails.locator('.flow-tree li').count()).toBe(3);
    // The lists hold both jobs: nothing went to "Opened jobs".
    expect(await page.locator('#opened').isHidden()).toBe(true);

    // Closed again from their rows, for the tests after this one.
    await rootRow.getByRole('button', { name: root?.slice(0, 8) }).click();
    await details.waitFor({ state: 'detached' });
    const leftRow = page.locator(`#recent-jobs tr[data-job="${left}"]`);
    await leftRow.getByRole('button', { name: left?.slice(0, 8) }).click();
    await childDetails.waitFor({ state: 'detached' });
    expect(problems).toEqual([]);
  });

  it('opens a flow node that no list shows under "Opened jobs"', async () => {
    // 25 nodes: the recent list (20 jobs) cannot show them all.
    const submitted = await postJson(overHttp, '/v1/flows', {
      type: 'noop',
      children: Array.from({ length: 24 }, (_, i) => ({ type: 'echo', data: i })),
    });
    expect(submitted.status).toBe(202);
    const flow = (await submitted.json()) as FlowAnswer;
    await waitForStatus((path) => overHttp.request(path), flow.id, ['completed']);
    const recent = (await (await overHttp.request('/v1/jobs?limit=20')).json()) as {
      items: { id: string }[];
    };
    const listed = new Set(recent.items.map((job) => job.id));
    const shown = flow.nodes.find((node) => listed.has(node.id));
    const hidden = flow.nodes.find((node) => !listed.has(node.id));
    if (!shown || !hidden) throw new Error('expected the recent list to hold some of the flow, not all');

    const row = page.locator(`#recent-jobs tr[data-job="${shown.id}"]`);
    await row.waitFor();
    await row.getByRole('button', { name: shown.id.slice(0, 8) }).click();
    const tree = page.locator(`#recent-jobs tr[data-details="${shown.id}"] .flow-tree`);
    await tree.waitFor();
    expect(await tree.locator('li').count()).toBe(25);
    await tree.locator(`li[data-job="${hidden.id}"] > button.flow-node`).click();

    const opened = page.locator(`#opened-jobs tr[data-details="${hidden.id}"]`);
    await opened.waitFor();
    expect(await page.locator('#opened').isVisible()).toBe(true);
    expect(
      await page.locator(`#opened-jobs tr[data-job="${hidden.id}"][data-status="completed"]`).count(),
    ).toBe(1);
    expect(
      await opened.locator(`.flow-tree li[data-job="${hidden.id}"] > [aria-current="true"]`).count(),
    ).toBe(1);
    // Brought into view for the user who clicked.
    expect(await opened.isVisible()).toBe(true);
    const box = await opened.boundingBox();
    const viewport = page.viewportSize();
    expect(box && viewport && box.y < viewport.height && box.y + box.height > 0).toBe(true);

    // Closing its details takes it away; the shown node's details close from their row.
    await page
      .locator(`#opened-jobs tr[data-job="${hidden.id}"]`)
      .getByRole('button', { name: hidden.id.slice(0, 8) })
      .click();
    await page.locator('#opened').waitFor({ state: 'hidden' });
    await row.getByRole('button', { name: shown.id.slice(0, 8) }).click();
    await tree.waitFor({ state: 'detached' });
    expect(problems).toEqual([]);
  });

  it('retries every failed or expired job of the tenant, not only those listed, once a confirmation says how many', async () => {
    const get = (path: string) => p.request(path);
    const statusOf = async (id: string) =>
      ((await (await get(`/v1/jobs/${id}`)).json()) as { status: string }).status;
    /** Every job of the tenant GET /v1/jobs lists with `query`, page by page. */
    const listAll = async (query: string) => {
      const all: { id: string; attempts: number }[] = [];
      let cursor: string | null = null;
      do {
        const page = (await (
          await get(`/v1/jobs?${query}&limit=500${cursor ? `&cursor=${cursor}` : ''}`)
        ).json()) as { items: { id: string; attempts: number }[]; nextCursor: string | null };
        all.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor !== null);
      return all;
    };
    // Far more failures than the failed list shows (20), and more than one POST /v1/jobs/retry
    // takes (1,000), so the page follows `nextCursor`. Each fails its only attempt and would
    // succeed on a second one.
    const ids = new Set<string>();
    for (let batch = 0; batch < 2; batch++) {
      const submitted = await postJson(p, '/v1/jobs/batch', {
        jobs: Array.from({ length: 505 }, () => ({ type: 'test.flaky', data: { failures: 1 }, attempts: 1 })),
      });
      expect(submitted.status).toBe(202);
      for (const { id } of ((await submitted.json()) as { items: { id: string }[] }).items) ids.add(id);
    }
    const ours = <T extends { id: string }>(jobs: T[]) => jobs.filter((job) => ids.has(job.id));
    await until(async () => ours(await listAll('status=failed')).length, ids.size, 60_000);

    // Left alone: another tenant's failed job, and a cancelled job of this tenant.
    const { key: otherKey } = await p.keys.create({ tenant: 'other', name: 'other', scopes: ['admin'] });
    const asOther = { authorization: `Bearer ${otherKey}` };
    const theirs = await postJson(
      p,
      '/v1/jobs',
      { type: 'test.flaky', data: { failures: 1 }, attempts: 1 },
      asOther,
    );
    const theirId = ((await theirs.json()) as { id: string }).id;
    const getAsOther = (path: string) => p.request(path, { headers: asOther });
    await waitForStatus(getAsOther, theirId, ['failed']);
    const held = await postJson(p, '/v1/jobs', { type: 'noop', delayMs: 60_000 });
    const cancelledId = ((await held.json()) as { id: string }).id;
    expect((await p.request(`/v1/jobs/${cancelledId}/cancel`, { method: 'POST' })).status).toBe(200);
    await waitForStatus(get, cancelledId, ['cancelled']);

    // The tenant's failed and expired jobs: these 1,010 and the earlier tests' ones.
    const listed = await listAll('status=failed,expired');
    expect(ours(listed)).toHaveLength(ids.size);
    const count = listed.length.toLocaleString('en-US');
    await until(() => page.locator('#failed-jobs tr[data-job]').count(), 20);

    // The count comes first, and retries nothing until it is confirmed.
    const button = page.getByRole('button', { name: 'Retry all failed…' });
    const confirm = page.locator('#retry-confirm');
    await button.click();
    await until(text(confirm.locator('#retry-confirm-text')), `Retry ${count} failed or expired jobs?`);
    await confirm.getByRole('button', { name: 'Keep them' }).click();
    await confirm.waitFor({ state: 'hidden' });
    expect(ours(await listAll('status=failed'))).toHaveLength(ids.size);

    await button.click();
    await until(text(confirm.locator('#retry-confirm-text')), `Retry ${count} failed or expired jobs?`);
    await confirm.screenshot({ path: `${artifacts}dashboard-retry-all.png` });
    // A job submitted after the count is not among those it counted, so it is not retried.
    const later = await postJson(p, '/v1/jobs', { type: 'test.flaky', data: { failures: 1 }, attempts: 1 });
    const laterId = ((await later.json()) as { id: string }).id;
    await waitForStatus(get, laterId, ['failed']);
    await confirm.getByRole('button', { name: `Retry ${count} jobs` }).click();
    await until(text(page.locator('#toast.ok')), `${count} failed or expired jobs queued again`, 60_000);
    await confirm.waitFor({ state: 'hidden' });

    // Every one ran again (attempt 2, which this type lets succeed), not only the 20 listed.
    await until(async () => ours(await listAll('status=completed&type=test.flaky')).length, ids.size, 60_000);
    const completed = ours(await listAll('status=completed&type=test.flaky'));
    expect(completed.every((job) => job.attempts === 2)).toBe(true);
    expect(await waitForStatus(get, laterId, ['failed'])).toMatchObject({ attempts: 1 });
    expect(await waitForStatus(getAsOther, theirId, ['failed'])).toMatchObject({ attempts: 1 });
    expect(await statusOf(cancelledId)).toBe('cancelled');
    await page.locator(`#failed-jobs tr[data-job="${laterId}"]`).waitFor();
    expect(problems).toEqual([]);
  });

  it('says webhooks need the admin scope to a key without it', async () => {
    const { key } = await p.keys.create({ tenant: 'default', name: 'reader', scopes: ['jobs:read'] });
    await page.getByRole('button', { name: 'Forget key' }).click();
    await page.locator('#key').fill(key);
    await page.getByRole('button', { name: 'Connect' }).click();
    await until(
      text(page.locator('#webhooks-note')),
      'Webhooks and their deliveries need a key with the admin scope.',
    );
    // Without the operator scope, depth shows as unknown, not as zero.
    expect(await text(page.locator('#stat-waiting'))()).toBe('–');
    expect(await text(page.locator('#internal-queues tr[data-queue="callbacks"] td').nth(1))()).toBe('–');
    // Limits are no secret: each queue's row still shows them (none here).
    expect(await text(page.locator('#queues tr[data-queue="http"] td.limits'))()).toBe('–');
    // The browser logs each refused request (403 on /v1/webhooks); nothing else.
    expect(problems.every((line) => line.includes('status of 403'))).toBe(true);
    problems.length = 0;
  });

  it('asks for a key again when the key is refused', async () => {
    await page.getByRole('button', { name: 'Forget key' }).click();
    await page.locator('#key').fill('cvk_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    await page.getByRole('button', { name: 'Connect' }).click();
    await until(text(page.locator('#login-error')), 'That API key is not valid (or was revoked).');
    expect(await page.locator('#app').isHidden()).toBe(true);
    // The browser logs each refused request; those are the only errors expected here.
    expect(problems.every((line) => line.includes('status of 401'))).toBe(true);
    problems.length = 0;
  });
});

describe.skipIf(!available)('the API reference in Chromium', () => {
  it('renders every operation from /openapi.json with assets from the API only, under the strict CSP', async () => {
    const external: string[] = [];
    page.on('request', (request) => {
      if (!request.url().startsWith(base)) external.push(request.url());
    });
    const response = await page.goto(`${base}/docs`);
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
    await page.locator('#operations-Jobs-submitJob').waitFor();
    const document = (await (await fetch(`${base}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const operations = Object.values(document.paths).flatMap((methods) => Object.keys(methods)).length;
    expect(await page.locator('.opblock').count()).toBe(operations);
    await page.screenshot({ path: `${artifacts}docs.png` });
    expect(external).toEqual([]);
    expect(problems).toEqual([]);
  });
});
