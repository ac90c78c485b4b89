import { ConveyorError } from '@conveyor/core/errors';
import type { StatusEvent } from '@conveyor/core/events';
import type { Logger } from '@conveyor/core/log';
import { isCluster, type RedisClient } from '@conveyor/core/redis';

export type EventListener = (event: StatusEvent) => void;

/**
 * The API process's one Redis subscriber. A channel is subscribed while at least one
 * stream client listens to it and unsubscribed when the last one leaves, so an API with no
 * stream clients receives no event traffic at all.
 */
export interface EventHub {
  /**
   * Starts delivering the channel's events to `listener`; call the returned function to stop.
   * Throws UNAVAILABLE when the process already holds its most listeners.
   */
  listen(channel: string, listener: EventListener): Promise<() => void>;
  /** Channels currently subscribed. */
  channels(): string[];
  /** Listeners right now, over all channels. */
  listeners(): number;
  /** Closes `queue` when the hub closes (shutdown); call the returned function when the stream ends. */
  track(queue: { close(reason?: string): void }): () => void;
  /** Stream clients connected right now. */
  clients(): number;
  /** Ends every stream, unsubscribes and closes the connection. */
  close(): Promise<void>;
}

export interface EventHubOptions {
  /** A dedicated connection (`createRedis(url, 'subscriber')`): in subscriber mode it can do nothing else. */
  subscriber: RedisClient;
  logger: Logger;
  /**
   * Most listeners at once (STREAM_MAX_SUBSCRIPTIONS): one per SSE stream, per job a
   * WebSocket follows and per WebSocket following types. Bounds the channels and memory
   * one API process holds. @defaultValue 10,000
   */
  maxListeners?: number;
}

/** One subscribed channel: its listeners, and the SUBSCRIBE every listener waits for. */
interface Channel {
  listeners: Set<EventListener>;
  subscribed: Promise<unknown>;
}

export function createEventHub({ subscriber, logger, maxListeners = 10_000 }: EventHubOptions): EventHub {
  const channels = new Map<string, Channel>();
  const clients = new Set<{ close(reason?: string): void }>();
  let listening = 0;

  // On a cluster, events are published sharded (SPUBLISH): subscribe to each channel on its
  // own shard (ioredis keeps one subscriber connection per master and resubscribes them).
  const sharded = isCluster(subscriber);
  const subscribe = (name: string) => (sharded ? subscriber.ssubscribe(name) : subscriber.subscribe(name));
  const unsubscribe = (name: string) =>
    sharded ? subscriber.sunsubscribe(name) : subscriber.unsubscribe(name);
  subscriber.on(sharded ? 'smessage' : 'message', (name: string, message: string) => {
    const channel = channels.get(name);
    if (!channel) return;
    let event: StatusEvent;
    try {
      event = JSON.parse(message) as StatusEvent;
    } catch {
      logger.warn({ channel: name }, 'unparseable status event dropped');
      return;
    }
    for (const listener of channel.listeners) listener(event);
  });

  return {
    async listen(name, listener) {
      if (listening >= maxListeners) {
        throw new ConveyorError(
          'UNAVAILABLE',
          `this API process already serves ${maxListeners} stream subscriptions (STREAM_MAX_SUBSCRIPTIONS); try again later`,
          { retryable: true },
        );
      }
      // Bookkeeping is synchronous, before any await: a listen and a stop racing each other
      // (or many listens of one channel) always leave the channel subscribed exactly while
      // it has listeners.
      let channel = channels.get(name);
      if (!channel) {
        channel = { listeners: new Set(), subscribed: subscribe(name) };
        channels.set(name, channel);
      }
      const mine = channel;
      mine.listeners.add(listener);
      listening++;
      let done = false;
      const stop = () => {
        if (done) return;
        done = true;
        listening--;
        mine.listeners.delete(listener);
        if (mine.listeners.size > 0 || channels.get(name) !== mine) return;
        channels.delete(name);
        unsubscribe(name).catch((error: unknown) =>
          logger.warn({ err: error, channel: name }, 'unsubscribe failed'),
        );
      };
      try {
        await mine.subscribed;
      } catch (error) {
        stop();
        throw new ConveyorError('UNAVAILABLE', 'cannot subscribe to status events: Redis is unavailable', {
          cause: error,
          retryable: true,
        });
      }
      return stop;
    },
    channels: () => [...channels.keys()],
    listeners: () => listening,
    track(queue) {
      clients.add(queue);
      return () => clients.delete(queue);
    },
    clients: () => clients.size,
    async close() {
      for (const client of clients) client.close('server shutting down');
      clients.clear();
      channels.clear();
      subscriber.disconnect();
    },
  };
}
