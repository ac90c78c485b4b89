import type { StatusEvent } from '@conveyor/core/events';
import type { Logger } from '@conveyor/core/log';
import type { Redis } from 'ioredis';

export type EventListener = (event: StatusEvent) => void;

/**
 * The API process's one Redis subscriber. A channel is subscribed while at least one
 * stream client listens to it and unsubscribed when the last one leaves, so an API with no
 * stream clients receives no event traffic at all.
 */
export interface EventHub {
  /** Starts delivering the channel's events to `listener`; call the returned function to stop. */
  listen(channel: string, listener: EventListener): Promise<() => void>;
  /** Channels currently subscribed. */
  channels(): string[];
  /** Closes `queue` when the hub closes (shutdown); call the returned function when the stream ends. */
  track(queue: { close(reason?: string): void }): () => void;
  /** Stream clients connected right now. */
  clients(): number;
  /** Ends every stream, unsubscribes and closes the connection. */
  close(): Promise<void>;
}

/**
 * @param subscriber a dedicated connection (`createRedis(url, 'subscriber')`): in subscriber
 *   mode it can do nothing else.
 */
export function createEventHub({ subscriber, logger }: { subscriber: Redis; logger: Logger }): EventHub {
  const listeners = new Map<string, Set<EventListener>>();
  const clients = new Set<{ close(reason?: string): void }>();

  subscriber.on('message', (channel: string, message: string) => {
    const set = listeners.get(channel);
    if (!set) return;
    let event: StatusEvent;
    try {
      event = JSON.parse(message) as StatusEvent;
    } catch {
      logger.warn({ channel }, 'unparseable status event dropped');
      return;
    }
    for (const listener of set) listener(event);
  });

  return {
    async listen(channel, listener) {
      let set = listeners.get(channel);
      if (!set) {
        set = new Set();
        listeners.set(channel, set);
        await subscriber.subscribe(channel);
      }
      set.add(listener);
      let done = false;
      return () => {
        if (done) return;
        done = true;
        const current = listeners.get(channel);
        current?.delete(listener);
        if (current && current.size === 0) {
          listeners.delete(channel);
          subscriber
            .unsubscribe(channel)
            .catch((error: unknown) => logger.warn({ err: error, channel }, 'unsubscribe failed'));
        }
      };
    },
    channels: () => [...listeners.keys()],
    track(queue) {
      clients.add(queue);
      return () => clients.delete(queue);
    },
    clients: () => clients.size,
    async close() {
      for (const client of clients) client.close('server shutting down');
      clients.clear();
      listeners.clear();
      subscriber.disconnect();
    },
  };
}
