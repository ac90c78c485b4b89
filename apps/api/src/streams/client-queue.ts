/**
 * Events waiting to be written to one stream client. A client that reads slower than its
 * events arrive is dropped once `limit` are waiting, instead of slowing the others or
 * growing memory without bound.
 */
export interface ClientQueue<T> {
  push(item: T): void;
  /** Resolves with the next item, or undefined once closed and empty. */
  next(): Promise<T | undefined>;
  close(reason?: string): void;
  /** Calls `listener` with the reason when the queue closes (at once if it is closed). */
  onClose(listener: (reason: string) => void): void;
  readonly closed: boolean;
  /** Why the queue closed: undefined while open. */
  readonly reason: string | undefined;
}

export function createClientQueue<T>(limit = 1_000): ClientQueue<T> {
  const items: T[] = [];
  let waiting: ((item: T | undefined) => void) | undefined;
  let reason: string | undefined;
  const closeListeners: ((reason: string) => void)[] = [];
  const queue: ClientQueue<T> = {
    push(item) {
      if (reason !== undefined) return;
      if (waiting) {
        const resolve = waiting;
        waiting = undefined;
        resolve(item);
        return;
      }
      items.push(item);
      if (items.length > limit) {
        items.length = 0;
        queue.close(`client too slow: more than ${limit} events waiting`);
      }
    },
    next() {
      const item = items.shift();
      if (item !== undefined || reason !== undefined) return Promise.resolve(item);
      return new Promise((resolve) => {
        waiting = resolve;
      });
    },
    close(why = 'closed') {
      if (reason !== undefined) return;
      reason = why;
      waiting?.(undefined);
      waiting = undefined;
      for (const listener of closeListeners.splice(0)) listener(why);
    },
    onClose(listener) {
      if (reason === undefined) closeListeners.push(listener);
      else listener(reason);
    },
    get closed() {
      return reason !== undefined;
    },
    get reason() {
      return reason;
    },
  };
  return queue;
}
