import { isCluster, type RedisClient } from '../redis/connect.js';
import { createEventLog, type EventLog, type EventRetention, withEventId } from './event-log.js';
import { eventChannels, type StatusEvent } from './status-event.js';

/** Publishes status events; the one place that knows which channels an event goes to. */
export interface EventPublisher {
  /**
   * Appends the event to its tenant's event log (which gives it its id) and sends it, with
   * the id, to its job's channel and its tenant's channel. A caller holding the job's BullMQ
   * id (`queueJobId(event.tenant, event.jobId)`) passes it, saving the hash that names the
   * job's channel: the worker publishes twice per job. Resolves with the event's id.
   */
  publish(event: StatusEvent, queueJobId?: string): Promise<string>;
  /** The tenants' event logs it appends to (what a reconnecting stream is replayed from). */
  readonly log: EventLog;
}

export function createEventPublisher(
  redis: RedisClient,
  prefix: string,
  retention?: EventRetention,
): EventPublisher {
  const channels = eventChannels(prefix);
  const log = createEventLog(redis, prefix, retention);
  const jobChannel = (event: StatusEvent, queueJobId: string | undefined) =>
    queueJobId === undefined ? channels.job(event.tenant, event.jobId) : channels.queueJob(queueJobId);
  if (isCluster(redis)) {
    // Sharded pub/sub: an event goes to the one shard its channel hashes to (a plain PUBLISH
    // is copied to every node). The script publishes to the tenant's channel, which shares
    // the log's slot; the job's channel lives elsewhere, so it is sent once the id is known.
    return {
      log,
      async publish(event, queueJobId) {
        const json = JSON.stringify(event);
        const id = await log.append(event.tenant, json, [channels.tenant(event.tenant)], 'spublish');
        await redis.spublish(jobChannel(event, queueJobId), withEventId(id, json));
        return id;
      },
    };
  }
  return {
    log,
    // One script call: on an auto-pipelined connection it joins the same write as every
    // other command of this tick.
    publish: (event, queueJobId) =>
      log.append(
        event.tenant,
        JSON.stringify(event),
        [jobChannel(event, queueJobId), channels.tenant(event.tenant)],
        'publish',
      ),
  };
}
