import { type Db, type NewJobRow, type RecordedOutcome, upsertTerminalRows } from '@conveyor/core/db';
import { type Batcher, createBatcher } from './batcher.js';
import type { WorkerMetrics } from './metrics.js';

/**
 * Upserts terminal rows, many per INSERT, each caller resolved once its batch committed, with
 * the outcome its job's row holds now (its own, or the one that won before it).
 * With `metrics`, every INSERT's row count, commit time and failure is measured.
 */
export function createResultWriter({
  db,
  maxBatchSize = 500,
  metrics,
}: {
  db: Db;
  /** @defaultValue 500 */
  maxBatchSize?: number;
  metrics?:
    | Pick<WorkerMetrics, 'resultBatchRows' | 'resultCommitDuration' | 'resultCommitErrors'>
    | undefined;
}): Batcher<NewJobRow, RecordedOutcome> {
  return createBatcher({
    maxBatchSize,
    commit: async (rows) => {
      if (!metrics) return upsertTerminalRows(db, rows);
      metrics.resultBatchRows.observe(rows.length);
      const end = metrics.resultCommitDuration.startTimer();
      try {
        const stored = await upsertTerminalRows(db, rows);
        end();
        return stored;
      } catch (error) {
        metrics.resultCommitErrors.inc();
        throw error;
      }
    },
  });
}
