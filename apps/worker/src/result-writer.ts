import { type Db, type NewJobRow, upsertTerminalRows } from '@conveyor/core/db';
import { type Batcher, createBatcher } from './batcher.js';

/** Upserts terminal rows, many per INSERT, each caller resolved once its batch committed. */
export function createResultWriter({
  db,
  maxBatchSize = 500,
}: {
  db: Db;
  maxBatchSize?: number;
}): Batcher<NewJobRow> {
  return createBatcher({ maxBatchSize, commit: (rows) => upsertTerminalRows(db, rows) });
}
