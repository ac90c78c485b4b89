import {
  type Db,
  dataExceptionProblem,
  type NewJobRow,
  type RecordedOutcome,
  upsertTerminalRows,
} from '@conveyor/core/db';
import { type Batcher, createBatcher } from './batcher.js';
import type { WorkerMetrics } from './metrics.js';
import { unstorableFallbacks } from './unstorable-row.js';

type Upsert = (rows: NewJobRow[]) => Promise<RecordedOutcome[]>;

/**
 * Commits `rows` with `upsert`. When Postgres refuses them for the data they carry (SQLSTATE
 * class 22: a NUL or a lone surrogate in a handler's result, a remote server's body…), the
 * batch is halved until the refused row is alone, so every other row commits (about
 * 2·log2(n) extra statements per refused row), and that row is stored in its safe form:
 * `failed` with UNSTORABLE_RESULT (see unstorableFallbacks). A poison row thus never fails
 * its batch twice, nor holds its job and worker slot. Any other failure (Postgres down, a
 * broken connection) rejects as before: the caller retries, and no job is acknowledged
 * without its row.
 */
async function commitIsolatingRefused(upsert: Upsert, rows: NewJobRow[]): Promise<RecordedOutcome[]> {
  try {
    return await upsert(rows);
  } catch (error) {
    const problem = dataExceptionProblem(error);
    const [only] = rows;
    if (problem === undefined || only === undefined) throw error;
    if (rows.length > 1) {
      const half = Math.ceil(rows.length / 2);
      const first = await commitIsolatingRefused(upsert, rows.slice(0, half));
      return [...first, ...(await commitIsolatingRefused(upsert, rows.slice(half)))];
    }
    for (const fallback of unstorableFallbacks(only, problem)) {
      try {
        return await upsert([fallback]);
      } catch (refused) {
        if (dataExceptionProblem(refused) === undefined) throw refused;
      }
    }
    // Not reached: the last fallback holds only ids, names, counts and checked times.
    throw error;
  }
}

/**
 * Upserts terminal rows, many per INSERT, each caller resolved once its batch committed, with
 * the outcome its job's row holds now (its own, or the one that won before it). A row Postgres
 * refuses for its data is isolated and stored as a failure instead (commitIsolatingRefused).
 * With `metrics`, every INSERT's row count, commit time and failure is measured.
 */
export function createResultWriter({
  db,
  maxBatchSize = 500,
  maxInFlight,
  metrics,
}: {
  db: Db;
  /** @defaultValue 500 */
  maxBatchSize?: number;
  /**
   * Batches committing at once, each on its own connection of the pool. More than 1 overlaps
   * commit latency (a remote Postgres); on the 2-core bench machine 2 and 4 bought nothing
   * (docs/performance.md). @defaultValue 1
   */
  maxInFlight?: number | undefined;
  metrics?:
    | Pick<WorkerMetrics, 'resultBatchRows' | 'resultCommitDuration' | 'resultCommitErrors'>
    | undefined;
}): Batcher<NewJobRow, RecordedOutcome> {
  const upsert: Upsert = async (rows) => {
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
  };
  return createBatcher({ maxBatchSize, maxInFlight, commit: (rows) => commitIsolatingRefused(upsert, rows) });
}
