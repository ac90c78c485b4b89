import type { Logger } from '@conveyor/core/log';
import type { Context, MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { ApiEnv } from '../api-env.js';
import type { ApiMetrics } from '../metrics/api-metrics.js';

/** What ties a log line to its request: the request id, and the caller once authenticated. */
function requestFields(c: Context<ApiEnv>): Record<string, string> {
  const principal = c.get('principal');
  return principal
    ? { requestId: c.get('requestId'), tenant: principal.tenant, subject: principal.subject }
    : { requestId: c.get('requestId') };
}

/**
 * The logger for lines about one request (an error it ended in): bound to its request id and
 * caller. Made on demand: the request line itself needs no child logger, and a child per
 * request is measurable on the submit path.
 */
export function requestLogger(c: Context<ApiEnv>, logger: Logger): Logger {
  return logger.child(requestFields(c));
}

/**
 * Writes one line per request when it finishes (method, route template, status, duration,
 * the request id, the tenant once authenticated, the job it concerns), and counts it in the
 * HTTP metrics.
 */
export function requestLog(logger: Logger, metrics?: ApiMetrics): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const start = performance.now();
    await next();
    const status = c.res.status;
    // The route template, never the raw path: bounded label values.
    const route = routePath(c, -1);
    const seconds = (performance.now() - start) / 1_000;
    const method = c.req.method;
    metrics?.httpRequests.inc({ method, route, status: String(status) });
    metrics?.httpDuration.observe({ method, route, status: String(status) }, seconds);
    if (!logger.isLevelEnabled(status >= 500 ? 'error' : 'info')) return;
    const jobId = c.get('jobId');
    const line = {
      ...requestFields(c),
      method,
      route,
      path: c.req.path,
      status,
      ms: Math.round(seconds * 10_000) / 10,
      ...(jobId === undefined ? {} : { jobId }),
    };
    if (status >= 500) logger.error(line, 'request failed');
    else logger.info(line, 'request');
  };
}
