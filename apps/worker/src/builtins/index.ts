import { type AddressGuard, createAddressGuard } from '@conveyor/core/net';
import type { JobDefinition } from '@conveyor/sdk';
import { httpRequestJob } from './http-request.js';
import { echo, noop, sleep } from './simple.js';

export { httpRequestInput, httpRequestJob, MAX_RECORDED_BODY_BYTES } from './http-request.js';
export { echo, noop, sleep } from './simple.js';

/**
 * The job types the stock worker (`conveyor-worker`) runs: `noop`, `echo`, `sleep` and
 * `http.request`, defined with `@conveyor/sdk` like any team's own. `http.request` reaches
 * private and reserved addresses only when `httpAllowlist` (HTTP_ALLOWLIST) allows them.
 *
 * @example
 * await runWorker({ jobs: [...builtinJobs(), resize] });
 */
export function builtinJobs({
  httpAllowlist = [],
  guard = createAddressGuard(httpAllowlist),
}: {
  /** Hosts, addresses or CIDR ranges http.request may reach although private. @defaultValue none */
  httpAllowlist?: readonly string[];
  guard?: AddressGuard;
} = {}): JobDefinition[] {
  return [noop, echo, sleep, httpRequestJob(guard)];
}
