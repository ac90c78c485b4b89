import type { Logger } from '@conveyor/core/log';
import type { RequestIdVariables } from 'hono/request-id';

/** Request-scoped values on `c.var`; long-lived dependencies are closed over by route factories. */
export interface ApiEnv {
  Variables: RequestIdVariables & { log: Logger };
}
