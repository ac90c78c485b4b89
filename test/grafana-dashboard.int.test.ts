import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createJobRegistry } from '@conveyor/core/jobs';
import { createRedis, redisReady } from '@conveyor/core/redis';
import { useTestServices } from '@conveyor/dev/testing';
import { Registry } from 'prom-client';
import { beforeAll, describe, expect, it } from 'vitest';
import { createApiMetrics } from '../apps/api/src/metrics/api-metrics.js';
import { createQueueSet, type QueueSet } from '../apps/api/src/queues.js';
import { builtinJobs, createWorkerMetrics } from '../apps/worker/src/index.js';
import { promtoolCheckExpressions } from './prometheus.js';
import { hasTool } from './tools.js';

/**
 * The Grafana dashboard cannot drift from the code: every metric and label its queries use is
 * one the API or a worker really registers, and every query parses as PromQL.
 */
const services = useTestServices();
const root = fileURLToPath(new URL('../', import.meta.url));
const dashboard = JSON.parse(readFileSync(`${root}charts/conveyor/dashboards/conveyor.json`, 'utf8')) as {
  uid: string;
  panels: { type: string; title: string; targets?: { expr: string }[] }[];
  templating: { list: { name: string; query: string | { query: string } }[] };
};
/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = ['instance', 'job'];

let queues: QueueSet;
/** Metric name → its label names, from the real registries (histograms: their series names too). */
const exported = new Map<string, string[]>();

beforeAll(async () => {
  const redis = createRedis(services.redisUrl, 'producer');
  await redisReady(redis);
  queues = createQueueSet({
    connection: redis,
    prefix: services.prefix,
    names: () => createJobRegistry(builtinJobs()).queues(),
  });
  const api = new Registry();
  createApiMetrics(api, queues, () => 0);
  const worker = createWorkerMetrics(new Registry()).registry;
  for (const metric of [...api.getMetricsAsArray(), ...worker.getMetricsAsArray()]) {
    // prom-client keeps each metric's label names on the instance; its type does not show them.
    const { labelNames = [] } = metric as unknown as { labelNames?: string[] };
    const { name } = metric;
    if (String(metric.type) === 'histogram') {
      exported.set(`${name}_bucket`, [...labelNames, 'le']);
      exported.set(`${name}_sum`, labelNames);
      exported.set(`${name}_count`, labelNames);
    } else exported.set(name, labelNames);
  }
  return async () => {
    await queues.close();
    redis.disconnect();
  };
});

const expressions = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((t) => t.expr));
/** Grafana's variables replaced by what Prometheus would receive. */
const asPromQL = (expr: string) => expr.replaceAll('$__rate_interval', '5m').replaceAll('$queue', '.*');

describe('the Grafana dashboard (charts/conveyor/dashboards/conveyor.json)', () => {
  it('queries only metrics the API and the worker export, with labels they carry', () => {
    expect(expressions.length).toBeGreaterThan(15);
    for (const expr of expressions) {
      const metrics = [...expr.matchAll(/\b(conveyor_[a-z0-9_]+)\b/g)].map((m) => m[1] ?? '');
      expect(metrics.length, expr).toBeGreaterThan(0);
      const labels = new Set(TARGET_LABELS);
      for (const metric of metrics) {
        expect(exported.has(metric), `${metric} in ${expr}`).toBe(true);
        for (const label of exported.get(metric) ?? []) labels.add(label);
      }
      // Label names in matchers and in by (…) clauses.
      const used = [
        ...[...expr.matchAll(/\{([^}]*)\}/g)].flatMap((m) =>
          [...(m[1] ?? '').matchAll(/([a-z_]+)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1] ?? ''),
        ),
        ...[...expr.matchAll(/\bby\s*\(([^)]*)\)/g)].flatMap((m) =>
          (m[1] ?? '').split(',').map((l) => l.trim()),
        ),
      ];
      for (const label of used) expect(labels.has(label), `label ${label} in ${expr}`).toBe(true);
    }
  });

  it.skipIf(!hasTool('promtool'))('has every query parse as PromQL (promtool check rules)', () => {
    expect(promtoolCheckExpressions(expressions.map(asPromQL))).toBe('');
    // The check can fail: a broken expression is reported.
    expect(promtoolCheckExpressions(['sum(rate(conveyor_jobs_finished_total[5m])'])).not.toBe('');
  });

  it('shows depth per queue, throughput, p50/p99 wait and run time, failure rate, workers, schedule ticks and webhook delivery outcomes', () => {
    const titles = dashboard.panels.map((p) => p.title);
    for (const wanted of [
      /depth per queue/i,
      /finished per second/i,
      /wait p50 \/ p99/i,
      /run time p50 \/ p99/i,
      /failure rate/i,
      /workers/i,
      /schedule ticks/i,
      /webhook posts per second/i,
    ]) {
      expect(
        titles.some((t) => wanted.test(t)),
        String(wanted),
      ).toBe(true);
    }
    const all = expressions.join('\n');
    expect(all).toMatch(/histogram_quantile\(0\.5, [^\n]*conveyor_job_wait_seconds_bucket/);
    expect(all).toMatch(/histogram_quantile\(0\.99, [^\n]*conveyor_job_duration_seconds_bucket/);
    expect(all).toContain('sum by (outcome) (rate(conveyor_schedule_ticks_total[$__rate_interval]))');
    expect(all).toContain('sum by (outcome) (rate(conveyor_callback_attempts_total[$__rate_interval]))');
    expect(dashboard.uid).toBe('conveyor-overview');
    const queue = dashboard.templating.list.find((v) => v.name === 'queue');
    expect(JSON.stringify(queue?.query)).toContain('label_values(conveyor_queue_depth, queue)');
  });

  it('ships in the chart as a ConfigMap for the Grafana sidecar, off by default', () => {
    const template = readFileSync(`${root}charts/conveyor/templates/grafana-dashboard.yaml`, 'utf8');
    expect(template).toContain('{{- if .Values.grafanaDashboard.enabled }}');
    expect(template).toContain('.Files.Get "dashboards/conveyor.json"');
    const values = readFileSync(`${root}charts/conveyor/values.yaml`, 'utf8');
    expect(values).toMatch(/grafanaDashboard:\n {2}enabled: false\n {2}label: grafana_dashboard/);
  });
});

describe('docs/observability.md', () => {
  it('lists every metric the API and the worker export, with its labels', () => {
    const doc = readFileSync(`${root}docs/observability.md`, 'utf8');
    const names = [...exported.keys()]
      .filter((name) => name.startsWith('conveyor_'))
      .map((name) => name.replace(/_(bucket|sum|count)$/, ''));
    for (const name of new Set(names)) {
      const row = doc.split('\n').find((line) => line.startsWith(`| \`${name}\` |`));
      expect(row, name).toBeDefined();
      const labels = (exported.get(name) ?? exported.get(`${name}_count`) ?? []).filter((l) => l !== 'le');
      for (const label of labels) expect(row, `${name} label ${label}`).toContain(`\`${label}\``);
    }
  });
});
