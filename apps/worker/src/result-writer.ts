import { type Db, type NewJobRow, upsertTerminalRows } from '@conveyor/core/db';
import { type Batcher, createBatcher } from './batcher.js';
import type { WorkerMetrics } from './metrics.js';

/**
 * Upserts terminal rows, many per INSERT, each caller resolved once its batch committed.
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
}): Batcher<NewJobRow> {
  return createBatcher({
    maxBatchSize,
    commit: async (rows) => {
      if (!metrics) return upsertTerminalRows(db, rows);
      metrics.resultBatchRows.observe(rows.length);
      const end = metrics.resultCommitDuration.startTimer();
      try {
        await upsertTerminalRows(db, rows);
        end();
      } catch (error) {
        metrics.resultCommitErrors.inc();
        throw error;
      }
    },
  });
}
