import type { RedisClient } from './connect.js';

/**
 * A tenant's queued and running jobs, as one Redis sorted set: member `<queue>:<BullMQ job
 * id>`, score the job's creation time (epoch ms). The API adds a job's member before it
 * enqueues it (atomically against the tenant's cap), the worker removes it once the job's
 * terminal row is committed, a cancel removes it when it takes a job out of its queue.
 *
 * Being a set, it counts each job once however often it is reserved or released (a repeated
 * submit, a re-run after a crash), and it is the index that lists a tenant's in-flight jobs
 * at a cost in proportion to that tenant's own jobs, not to everything in the shared queues.
 */
export function tenantInFlightKey(prefix: string, tenant: string): string {
  return `${prefix}:tenant:${tenant}:jobs`;
}

/** A job's place in its tenant's set. */
export interface InFlightEntry {
  queue: string;
  /** The BullMQ job id (queueJobId). */
  jobId: string;
  /** Creation time, epoch ms: the listing order. */
  at: number;
}

/**
 * Longer than any delay a job may have (365 days), so a tenant whose only job waits a year
 * keeps it listed; refreshed by every reserve. A backstop for members nothing removed (a
 * queue obliterated by hand), not a part of the bookkeeping.
 */
const TTL_SECONDS = 400 * 24 * 3_600;

/** ARGV: cap (0: none), ttl, then score, member pairs. Answers the new size, or -1 past the cap. */
const RESERVE = `
local cap = tonumber(ARGV[1])
local fresh = 0
for i = 3, #ARGV, 2 do
  if not redis.call('ZSCORE', KEYS[1], ARGV[i + 1]) then fresh = fresh + 1 end
end
local current = redis.call('ZCARD', KEYS[1])
if cap > 0 and fresh > 0 and current + fresh > cap then return -1 end
for i = 3, #ARGV, 2 do redis.call('ZADD', KEYS[1], 'NX', ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return current + fresh
`;

type Reserve = (key: string, ...args: (string | number)[]) => Promise<number>;

function member(entry: Pick<InFlightEntry, 'queue' | 'jobId'>): string {
  return `${entry.queue}:${entry.jobId}`;
}

/** The tenant in-flight set of one deployment (one BullMQ prefix). */
export function createTenantInFlight(redis: RedisClient, prefix: string) {
  redis.defineCommand('conveyorReserveInFlight', { numberOfKeys: 1, lua: RESERVE });
  const reserve = (redis as unknown as { conveyorReserveInFlight: Reserve }).conveyorReserveInFlight.bind(
    redis,
  );
  return {
    /**
     * Adds the jobs to the tenant's set; false (and nothing added) when that would take the
     * tenant past `cap` jobs. A job already in the set is not counted again. `cap` 0: no cap.
     */
    async reserve(tenant: string, entries: InFlightEntry[], cap = 0): Promise<boolean> {
      if (entries.length === 0) return true;
      const args = entries.flatMap((e) => [e.at, member(e)]);
      return (await reserve(tenantInFlightKey(prefix, tenant), cap, TTL_SECONDS, ...args)) >= 0;
    },
    /** Takes jobs out of the tenant's set (idempotent). */
    async release(tenant: string, entries: Pick<InFlightEntry, 'queue' | 'jobId'>[]): Promise<void> {
      if (entries.length === 0) return;
      await redis.zrem(tenantInFlightKey(prefix, tenant), ...entries.map(member));
    },
    /** How many jobs the tenant has queued or running. */
    count(tenant: string): Promise<number> {
      return redis.zcard(tenantInFlightKey(prefix, tenant));
    },
    /** `count` of the tenant's jobs from `offset`, newest first. */
    async page(tenant: string, offset: number, count: number): Promise<InFlightEntry[]> {
      const flat = await redis.zrange(
        tenantInFlightKey(prefix, tenant),
        String(offset),
        String(offset + count - 1),
        'REV',
        'WITHSCORES',
      );
      const entries: InFlightEntry[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const m = flat[i] as string;
        const split = m.indexOf(':');
        entries.push({ queue: m.slice(0, split), jobId: m.slice(split + 1), at: Number(flat[i + 1]) });
      }
      return entries;
    },
  };
}

export type TenantInFlight = ReturnType<typeof createTenantInFlight>;
