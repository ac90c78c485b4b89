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
 * added while a commit runs wait for it and go together in the next one. So an item waits
 * at most for one commit in flight plus its own, and under load batches grow by
 * themselves (up to `maxBatchSize`) without a timer adding latency when idle.
 *
 * @example
 * const writer = createBatcher({ maxBatchSize: 500, commit: (rows) => upsert(rows) });
 * await writer.add(row); // resolved after the INSERT holding it has committed
 */
export function createBatcher<T, R = undefined>({
  maxBatchSize,
  commit,
}: {
  maxBatchSize: number;
  commit: CommitBatch<T, R>;
}): Batcher<T, R> {
  let queue: Pending<T, R>[] = [];
  let running: Promise<void> | undefined;

  async function run(): Promise<void> {
    // One commit at a time; whatever arrives meanwhile forms the next batch.
    while (queue.length > 0) {
      const batch = queue.slice(0, maxBatchSize);
      queue = queue.slice(batch.length);
      try {
        const results = (await commit(batch.map((p) => p.item))) as R[] | undefined;
        batch.forEach((p, i) => {
          p.resolve(results?.[i] as R);
        });
      } catch (error) {
        for (const p of batch) p.reject(error);
      }
    }
    running = undefined;
  }

  return {
    add(item) {
      return new Promise<R>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        running ??= new Promise<void>((started) => setImmediate(started)).then(run);
      });
    },
    async drain() {
      while (running) await running;
    },
  };
}
