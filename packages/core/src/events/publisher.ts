import type { Redis } from 'ioredis';
import { eventChannels, type StatusEvent } from './status-event.js';

/** Publishes status events; the one place that knows which channels an event goes to. */
export interface EventPublisher {
  /** Sends the event to its job's channel and its tenant's channel in one round trip. */
  publish(event: StatusEvent): Promise<void>;
}

export function createEventPublisher(redis: Redis, prefix: string): EventPublisher {
  const channels = eventChannels(prefix);
  return {
    async publish(event) {
      const payload = JSON.stringify(event);
      await redis
        .multi({ pipeline: true })
        .publish(channels.job(event.jobId), payload)
        .publish(channels.tenant(event.tenant), payload)
        .exec();
    },
  };
}
