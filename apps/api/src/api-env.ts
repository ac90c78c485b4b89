import type { RequestIdVariables } from 'hono/request-id';
import type { Principal, Scope } from './auth/principal.js';

/** Request-scoped values on `c.var`; long-lived dependencies are closed over by route factories. */
export interface ApiEnv {
  Variables: RequestIdVariables & {
    principal?: Principal;
    /** Whether the request's credential still authenticates and holds `scope` (set by authenticate). */
    recheck?: (scope: Scope) => Promise<boolean>;
    /** Whether the request's credential still authenticates with the route's scope (streams re-check it). */
    stillAuthenticated?: () => Promise<boolean>;
    /** The job a request is about, for its log line. */
    jobId?: string;
  };
}
