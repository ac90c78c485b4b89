import type { Logger } from '@conveyor/core/log';
import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { ApiEnv } from '../api-env.js';
import type { ApiMetrics } from '../metrics/api-metrics.js';

/**
 * Gives each request a child logger bound to its request id, and writes one line per
 * request when it finishes (method, route template, status, duration; the tenant once
 * authenticated), and counts it in the HTTP metrics.
 */
export function requestLog(logger: Logger, metrics?: ApiMetrics): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const start = performance.now();
    const log = logger.child({ requestId: c.var.requestId });
    c.set('log', log);
    await next();
    const status = c.res.status;
    // The route template, never the raw path: bounded label values.
    const route = routePath(c, -1);
    const seconds = (performance.now() - start) / 1_000;
    metrics?.httpRequests.inc({ method: c.req.method, route, status: String(status) });
    metrics?.httpDuration.observe({ method: c.req.method, route, status: String(status) }, seconds);
    const line = {
      method: c.req.method,
      route,
      path: c.req.path,
      status,
      ms: Math.round(seconds * 10_000) / 10,
      ...(c.var.jobId === undefined ? {} : { jobId: c.var.jobId }),
    };
    // authenticate() swaps in a child that also carries the tenant and key: log with that one.
    const done = c.var.log ?? log;
    if (status >= 500) done.error(line, 'request failed');
    else done.info(line, 'request');
  };
}
