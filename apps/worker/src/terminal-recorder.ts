import type { NewJobRow, RecordedOutcome } from '@conveyor/core/db';
import type { Logger } from '@conveyor/core/log';
import type { Batcher } from './batcher.js';

/** First wait after a failed write; doubles up to MAX_BACKOFF_MS. */
const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;

/**
 * Writes a terminal row and does not return until it is committed: a Postgres outage
 * holds the job (its BullMQ lock keeps being renewed) instead of acknowledging it without
 * its row. Rejects only when `signal` aborts (shutdown), so the job can be handed back.
 * Resolves with the outcome the job's row holds: this row's, or the one that won before it.
 */
export async function recordTerminal(
  writer: Batcher<NewJobRow, RecordedOutcome>,
  row: NewJobRow,
  {
    signal,
    log,
  }: {
    signal: AbortSignal;
    /** The job's logger, asked for only when a write fails. */
    log: () => Logger;
  },
): Promise<RecordedOutcome> {
  let backoff = FIRST_BACKOFF_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      const stored = await writer.add(row);
      if (attempt > 1) log().info({ attempt }, 'terminal row written after retries');
      return stored;
    } catch (error) {
      signal.throwIfAborted();
      log().warn({ err: error, attempt, retryInMs: backoff }, 'writing terminal row failed, retrying');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, backoff);
        signal.addEventListener(
          'abort',
          () => {
            clearTimeout(timer);
            resolve();
          },
          { once: true },
        );
      });
      signal.throwIfAborted();
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }
}
