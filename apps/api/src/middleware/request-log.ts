import type { Logger } from '@conveyor/core/log';
import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { ApiEnv } from '../api-env.js';

/**
 * Gives each request a child logger bound to its request id, and writes one line per
 * request when it finishes: method, route template, status and duration.
 */
export function requestLog(logger: Logger): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const start = performance.now();
    const log = logger.child({ requestId: c.var.requestId });
    c.set('log', log);
    await next();
    const status = c.res.status;
    const line = {
      method: c.req.method,
      route: routePath(c, -1),
      path: c.req.path,
      status,
      ms: Math.round((performance.now() - start) * 10) / 10,
    };
    if (status >= 500) log.error(line, 'request failed');
    else log.info(line, 'request');
  };
}
