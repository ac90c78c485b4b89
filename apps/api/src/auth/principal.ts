/**
 * What a caller may do. Tenant powers: `jobs:read`, `jobs:write`, and `admin`, which implies
 * both and manages the tenant's keys and webhooks. Operator power: `operator`, over what
 * every tenant shares (pausing and resuming queues, seeing all tenants' queue depth). `admin`
 * does not imply `operator`: a tenant's admin manages its own tenant only.
 */
export const scopes = ['jobs:read', 'jobs:write', 'admin', 'operator'] as const;
export type Scope = (typeof scopes)[number];

/** Who is calling: the tenant every read and write is confined to, and the scopes granted. */
export interface Principal {
  tenant: string;
  scopes: ReadonlySet<Scope>;
  /** The API key id or the JWT subject, for logs and rate limits. */
  subject: string;
  /** Requests per second this caller may make; undefined: the deployment default. */
  rateLimitPerSecond?: number;
}

/** Whether `principal` may act with `scope`: held itself, or implied by `admin` (all but `operator`). */
export function hasScope(principal: Principal, scope: Scope): boolean {
  if (principal.scopes.has(scope)) return true;
  return scope !== 'operator' && principal.scopes.has('admin');
}

export function isScope(value: string): value is Scope {
  return (scopes as readonly string[]).includes(value);
}
