/**
 * Commits a batch; rejecting rejects every item of the batch. It may answer one result per
 * item, in order, which that item's `add` resolves with.
 */
export type CommitBatch<T, R> = [R] extends [undefined]
  ? (items: T[]) => Promise<unknown>
  : (items: T[]) => Promise<R[]>;

export interface Batcher<T, R = undefined> {
  /** Resolves (with the item's result) once the batch holding `item` is committed; rejects if that commit fails. */
  add(item: T): Promise<R>;
  /** Resolves when everything added so far has been committed or rejected. */
  drain(): Promise<void>;
}

interface Pending<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: the first item starts a commit on the next turn of the event loop; items
 * added while `maxInFlight` commits run wait for one of them to end and go together in the
 * next one. So an item waits at most for the commits in flight plus its own, under load
 * batches grow by themselves (up to `maxBatchSize`) without a timer adding latency when
 * idle, and with more than one commit in flight the callers do not all idle on one fsync.
 * Each item still resolves only once the commit holding it has.
 *
 * @example
 * const writer = createBatcher({ maxBatchSize: 500, maxInFlight: 2, commit: (rows) => upsert(rows) });
 * await writer.add(row); // resolved after the INSERT holding it has committed
 */
export function createBatcher<T, R = undefined>({
  maxBatchSize,
  maxInFlight = 1,
  commit,
}: {
  maxBatchSize: number;
  /** Commits running at once. @defaultValue 1 */
  maxInFlight?: number | undefined;
  commit: CommitBatch<T, R>;
}): Batcher<T, R> {
  let queue: Pending<T, R>[] = [];
  let inFlight = 0;
  let scheduled = false;
  let idle: (() => void)[] = [];

  async function commitBatch(batch: Pending<T, R>[]): Promise<void> {
    try {
      const results = (await commit(batch.map((p) => p.item))) as R[] | undefined;
      for (let i = 0; i < batch.length; i++) (batch[i] as Pending<T, R>).resolve(results?.[i] as R);
    } catch (error) {
      for (const p of batch) p.reject(error);
    }
  }

  function pump(): void {
    scheduled = false;
    while (inFlight < maxInFlight && queue.length > 0) {
      const batch = queue.length <= maxBatchSize ? queue : queue.slice(0, maxBatchSize);
      queue = batch === queue ? [] : queue.slice(batch.length);
      inFlight++;
      void commitBatch(batch).then(() => {
        inFlight--;
        pump();
      });
    }
    if (inFlight === 0 && idle.length > 0) {
      const waiting = idle;
      idle = [];
      for (const resolve of waiting) resolve();
    }
  }

  return {
    add(item) {
      return new Promise<R>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        if (!scheduled && inFlight < maxInFlight) {
          scheduled = true;
          setImmediate(pump);
        }
      });
    },
    drain() {
      if (queue.length === 0 && inFlight === 0 && !scheduled) return Promise.resolve();
      return new Promise<void>((resolve) => idle.push(resolve));
    },
  };
}
