import type { RedisClient } from '../redis/connect.js';

/**
 * The channel every worker process listens on for cancellations: BullMQ aborts a running
 * job's signal only in the process that runs it, so a cancel is broadcast to all of them.
 */
export function cancelChannel(prefix: string): string {
  return `${prefix}:control:cancel`;
}

/** Asks whichever worker runs `jobId` to abort its handler. */
export async function broadcastCancel(redis: RedisClient, prefix: string, jobId: string): Promise<void> {
  await redis.publish(cancelChannel(prefix), jobId);
}
