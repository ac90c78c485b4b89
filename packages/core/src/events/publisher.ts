import { isCluster, type RedisClient } from '../redis/connect.js';
import { eventChannels, type StatusEvent } from './status-event.js';

/** Publishes status events; the one place that knows which channels an event goes to. */
export interface EventPublisher {
  /**
   * Sends the event to its job's channel and its tenant's channel. A caller holding the job's
   * BullMQ id (`queueJobId(event.tenant, event.jobId)`) passes it, saving the hash that
   * names the job's channel: the worker publishes twice per job.
   */
  publish(event: StatusEvent, queueJobId?: string): Promise<void>;
}

export function createEventPublisher(redis: RedisClient, prefix: string): EventPublisher {
  const channels = eventChannels(prefix);
  // On a cluster, sharded pub/sub: an event goes to the one shard its channel hashes to (a
  // plain PUBLISH is copied to every node of the cluster). Subscribers use SSUBSCRIBE.
  const send = isCluster(redis)
    ? (channel: string, payload: string) => redis.spublish(channel, payload)
    : (channel: string, payload: string) => redis.publish(channel, payload);
  return {
    async publish(event, queueJobId) {
      const payload = JSON.stringify(event);
      // Two plain commands, no MULTI: on an auto-pipelined connection they join the same
      // write as every other command of this tick (a MULTI would be a socket write of its own).
      await Promise.all([
        send(
          queueJobId === undefined ? channels.job(event.tenant, event.jobId) : channels.queueJob(queueJobId),
          payload,
        ),
        send(channels.tenant(event.tenant), payload),
      ]);
    },
  };
}
