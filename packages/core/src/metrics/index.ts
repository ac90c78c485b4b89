import { collectDefaultMetrics, type Registry } from 'prom-client';

/**
 * prom-client's gauges with a counter's suffix: `promtool check metrics` refuses them, and
 * each is the sum of its labelled sibling (`nodejs_active_handles{type}` and the like).
 */
const MISNAMED_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/**
 * The process and Node.js runtime metrics of one process (prom-client's defaults: CPU,
 * memory, event loop lag, GC, handles), minus the three gauges named like counters: sum
 * `nodejs_active_handles` by nothing for what `nodejs_active_handles_total` said.
 */
export function collectProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of MISNAMED_DEFAULTS) registry.removeSingleMetric(name);
}
