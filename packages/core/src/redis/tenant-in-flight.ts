import type { Redis } from 'ioredis';

/**
 * Jobs of one tenant that are queued or running, as a Redis counter: the API reserves a
 * slot per enqueued job (atomically against the cap), the worker releases it when the job
 * reaches its terminal row. A crash between a commit and its release leaves the counter a
 * little high until the key's TTL lapses, so the cap is a guard against floods, not an
 * exact quota.
 */
export function tenantInFlightKey(prefix: string, tenant: string): string {
  return `${prefix}:tenant:${tenant}:in-flight`;
}

/** Idle counters expire, which also clears any drift. */
const TTL_SECONDS = 7 * 24 * 3_600;

const RESERVE = `
local current = math.max(0, tonumber(redis.call('GET', KEYS[1]) or '0'))
local n = tonumber(ARGV[1])
if current + n > tonumber(ARGV[2]) then return -1 end
redis.call('SET', KEYS[1], current + n, 'EX', ARGV[3])
return current + n
`;

type Reserve = (key: string, n: number, cap: number, ttl: number) => Promise<number>;

/** Reserves `n` in-flight slots for `tenant`; false when that would pass `cap`. */
export function createInFlightCounter(redis: Redis, prefix: string) {
  redis.defineCommand('conveyorReserveInFlight', { numberOfKeys: 1, lua: RESERVE });
  const reserve = (redis as unknown as { conveyorReserveInFlight: Reserve }).conveyorReserveInFlight.bind(
    redis,
  );
  return {
    async reserve(tenant: string, n: number, cap: number): Promise<boolean> {
      return (await reserve(tenantInFlightKey(prefix, tenant), n, cap, TTL_SECONDS)) >= 0;
    },
    async release(tenant: string, n = 1): Promise<void> {
      await redis.decrby(tenantInFlightKey(prefix, tenant), n);
    },
  };
}

export type InFlightCounter = ReturnType<typeof createInFlightCounter>;
