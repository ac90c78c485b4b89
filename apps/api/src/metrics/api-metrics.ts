import { DEPTH_COUNT_STATES, internalQueues } from '@conveyor/core/jobs';
import { collectProcessMetrics } from '@conveyor/core/metrics';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { QueueSet } from '../queues.js';

/** How long one depth reading is reused: scrapes from many Prometheus replicas cost Redis one read. */
const DEPTH_CACHE_MS = 2_000;

/** The API's metrics, registered on an injected registry. Labels are bounded: route templates, never ids. */
export interface ApiMetrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
  jobsSubmitted: Counter<'type'>;
  streamClients: Gauge;
}

/**
 * @param streamClients how many SSE/WebSocket clients are connected, read at scrape time.
 */
export function createApiMetrics(
  registry: Registry,
  queues: QueueSet,
  streamClients: () => number,
): ApiMetrics {
  collectProcessMetrics(registry);
  type Reading = {
    depth: { queue: string; state: string; n: number }[];
    workers: { queue: string; n: number }[];
  };
  let cached: { at: number; reading: Promise<Reading> } | undefined;
  // Conveyor's own queues too: a growing `callbacks` backlog is worth an alert. Asked for at
  // each read: the registered job types (and so the queues) grow while the API runs.
  const depthQueues = () => [
    ...queues.groups(),
    ...internalQueues.map((name) => ({ name, partitions: [queues.internal(name)] })),
  ];

  /** One Redis read per BullMQ queue per DEPTH_CACHE_MS, shared by both gauges and concurrent scrapes. */
  function read(): Promise<Reading> {
    if (cached && Date.now() - cached.at <= DEPTH_CACHE_MS) return cached.reading;
    const reading: Promise<Reading> = Promise.all(
      depthQueues().map(async ({ name, partitions }) => {
        const each = await Promise.all(
          partitions.map(async (queue) => {
            const [counts, paused, workers] = await Promise.all([
              queue.getJobCounts(...DEPTH_COUNT_STATES),
              queue.isPaused(),
              queue.getWorkersCount(),
            ]);
            const waiting = counts.wait ?? 0;
            // A paused queue's waiting jobs are reported as paused, as BullMQ used to.
            return {
              waiting: paused ? 0 : waiting,
              paused: paused ? waiting : 0,
              prioritized: counts.prioritized ?? 0,
              delayed: counts.delayed ?? 0,
              active: counts.active ?? 0,
              failed: counts.failed ?? 0,
              workers,
            };
          }),
        );
        // A partitioned queue is one series: the sum of its partitions, and the fewest workers
        // any one has (a partition no worker serves shows 0).
        const sum = (state: Exclude<keyof (typeof each)[number], 'workers'>) =>
          each.reduce((total, p) => total + p[state], 0);
        const states = ['waiting', 'paused', 'prioritized', 'delayed', 'active', 'failed'] as const;
        return {
          depth: states.map((state) => ({ queue: name, state, n: sum(state) })),
          workers: { queue: name, n: Math.min(...each.map((p) => p.workers)) },
        };
      }),
    ).then(
      (perQueue) => ({ depth: perQueue.flatMap((q) => q.depth), workers: perQueue.map((q) => q.workers) }),
      // Redis down: export nothing rather than stale or zero depths.
      () => ({ depth: [], workers: [] }),
    );
    cached = { at: Date.now(), reading };
    return reading;
  }

  new Gauge({
    name: 'conveyor_queue_depth',
    help: 'Jobs per queue and BullMQ state (exported by the API only, so sums across pods stay right).',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      const { depth } = await read();
      this.reset();
      for (const v of depth) this.set({ queue: v.queue, state: v.state }, v.n);
    },
  });

  new Gauge({
    name: 'conveyor_queue_workers',
    help: 'Worker connections serving each queue, as BullMQ sees them (exported by the API only).',
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      const { workers } = await read();
      this.reset();
      for (const v of workers) this.set({ queue: v.queue }, v.n);
    },
  });

  return {
    registry,
    httpRequests: new Counter({
      name: 'conveyor_http_requests_total',
      help: 'HTTP requests by method, route template and status.',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'conveyor_http_request_duration_seconds',
      help: 'HTTP request latency by method, route template and status.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [registry],
    }),
    jobsSubmitted: new Counter({
      name: 'conveyor_jobs_submitted_total',
      help: 'Jobs accepted (202) by type.',
      labelNames: ['type'],
      registers: [registry],
    }),
    streamClients: new Gauge({
      name: 'conveyor_stream_clients',
      help: 'Connected SSE and WebSocket clients.',
      registers: [registry],
      collect() {
        this.set(streamClients());
      },
    }),
  };
}
