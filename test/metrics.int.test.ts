import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useTestServices } from '@conveyor/dev/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkerServerApp } from '../apps/worker/src/index.js';
import { createPipeline, type Pipeline, postJson, waitForStatus } from './harness.js';

const services = useTestServices();
let p: Pipeline;

beforeAll(async () => {
  p = await createPipeline(services);
});
afterAll(() => p.close());

/** Parses Prometheus text into `name{labels}` → value. */
function samples(text: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const at = line.lastIndexOf(' ');
    map.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return map;
}

/**
 * Runs `promtool check metrics` (Debian's prometheus package; CI installs it) and returns
 * the problems it reports about Conveyor's own metrics; null when promtool is absent here.
 * Exit 1 is a parse failure; exit 3 means lint findings, which are allowed only for
 * prom-client's built-in process/nodejs metrics (e.g. its gauge `nodejs_active_handles_total`).
 */
function promtool(text: string): string[] | null {
  if (spawnSync('promtool', ['--version']).error) return null;
  const file = join(mkdtempSync(join(tmpdir(), 'conveyor-metrics-')), 'metrics.txt');
  writeFileSync(file, text);
  const run = spawnSync('sh', ['-c', `promtool check metrics < ${file}`], { encoding: 'utf8' });
  if (run.status !== 0 && run.status !== 3) return [`promtool could not parse the exposition: ${run.stderr}`];
  return `${run.stdout}${run.stderr}`
    .split('\n')
    .filter((line) => line.trim() !== '' && !/^(nodejs_|process_)/.test(line));
}

describe('GET /metrics (API)', () => {
  it('exports queue depth per state that matches BullMQ after known submits', async () => {
    const queue = p.queues.get('default');
    await queue.pause();
    for (let i = 0; i < 4; i++) await postJson(p, '/v1/jobs', { type: 'noop', delayMs: 60_000 });
    for (let i = 0; i < 3; i++) await postJson(p, '/v1/jobs', { type: 'noop', priority: 5 });
    for (let i = 0; i < 2; i++) await postJson(p, '/v1/jobs', { type: 'noop' });
    await new Promise((resolve) => setTimeout(resolve, 2_100)); // past the depth cache
    const text = await (await p.app.request('/metrics')).text();
    const values = samples(text);
    const counts = await queue.getJobCounts('wait', 'prioritized', 'delayed');
    expect(values.get('conveyor_queue_depth{queue="default",state="delayed"}')).toBe(counts.delayed);
    expect(values.get('conveyor_queue_depth{queue="default",state="delayed"}')).toBe(4);
    expect(values.get('conveyor_queue_depth{queue="default",state="prioritized"}')).toBe(3);
    expect(values.get('conveyor_queue_depth{queue="default",state="paused"}')).toBe(counts.wait);
    expect(values.get('conveyor_queue_depth{queue="default",state="waiting"}')).toBe(0);
    // Conveyor's own queues are exported too.
    expect(values.get('conveyor_queue_depth{queue="callbacks",state="waiting"}')).toBe(0);
    expect(values.get('conveyor_queue_depth{queue="schedules",state="delayed"}')).toBe(0);
    expect(values.get('conveyor_jobs_submitted_total{type="noop"}')).toBe(9);
    expect(text).toMatch(/conveyor_http_requests_total\{method="POST",route="\/v1\/jobs",status="202"\} 9/);
    // Route templates, never raw ids.
    expect(text).not.toMatch(/route="\/v1\/jobs\/[0-9a-f]{8}-/);
    await queue.resume();
    const check = promtool(text);
    if (check === null)
      console.warn('promtool not installed here: exposition format not checked by promtool');
    else expect(check).toEqual([]);
  });
});

describe('GET /metrics (worker)', () => {
  it('exports job outcomes and run time by type in valid exposition format', async () => {
    p.startWorker();
    const metrics = p.workerMetrics;
    if (!metrics) throw new Error('worker has no metrics');
    const response = await postJson(p, '/v1/jobs', { type: 'echo', data: 1 });
    const { id } = (await response.json()) as { id: string };
    await waitForStatus((path) => p.request(path), id, ['completed']);
    const app = createWorkerServerApp({
      redis: p.producer,
      database: p.database,
      registry: metrics.registry,
    });
    const text = await (await app.request('/metrics')).text();
    expect(samples(text).get('conveyor_jobs_finished_total{type="echo",status="completed"}')).toBe(1);
    expect(text).toMatch(/conveyor_job_duration_seconds_count\{type="echo"\} 1/);
    expect(text).toContain('process_cpu_seconds_total');
    const check = promtool(text);
    if (check !== null) expect(check).toEqual([]);
  });
});
