import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { useTestServices } from '@conveyor/dev/testing';
import { type ServerType, serve } from '@hono/node-server';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipeline, type Pipeline, postJson, waitForStatus } from './harness.js';
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
let server: ServerType;
let base: string;
let browser: Browser;
let page: Page;
/** Console errors and uncaught exceptions of the page: a CSP violation shows up here. */
const problems: string[] = [];

beforeAll(async () => {
  if (!available) return;
  p = await createPipeline(services);
  server = serve({ fetch: p.app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking'],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
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
  await new Promise((resolve) => server?.close(resolve));
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
    p.startWorker();
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
