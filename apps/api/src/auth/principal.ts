/** What a caller may do. `admin` implies the others. */
export const scopes = ['jobs:read', 'jobs:write', 'admin'] as const;
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

export function hasScope(principal: Principal, scope: Scope): boolean {
  return principal.scopes.has('admin') || principal.scopes.has(scope);
}

export function isScope(value: string): value is Scope {
  return (scopes as readonly string[]).includes(value);
}
