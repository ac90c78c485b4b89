import type { Redis } from 'ioredis';
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

export function createEventPublisher(redis: Redis, prefix: string): EventPublisher {
  const channels = eventChannels(prefix);
  return {
    async publish(event, queueJobId) {
      const payload = JSON.stringify(event);
      // Two plain commands, no MULTI: on an auto-pipelined connection they join the same
      // write as every other command of this tick (a MULTI would be a socket write of its own).
      await Promise.all([
        redis.publish(
          queueJobId === undefined ? channels.job(event.tenant, event.jobId) : channels.queueJob(queueJobId),
          payload,
        ),
        redis.publish(channels.tenant(event.tenant), payload),
      ]);
    },
  };
}
