import type { Database } from './connect.js';

/** Fixed lock id: one pruner at a time across every worker process. */
const PRUNE_LOCK_ID = 7_302_418_552;

/**
 * Deletes finished jobs, flows and webhook deliveries older than `olderThan`, `batchSize` rows
 * per statement (so no transaction grows with the backlog). Safe with many workers running it: whoever holds
 * the advisory lock prunes, the others return `null` at once.
 */
export async function pruneHistory(
  database: Database,
  olderThan: Date,
  batchSize = 5_000,
): Promise<number | null> {
  const connection = await database.sql.reserve();
  try {
    const [lock] = await connection`select pg_try_advisory_lock(${PRUNE_LOCK_ID}) as locked`;
    if (!lock?.locked) return null;
    try {
      let total = 0;
      for (;;) {
        // By the whole key: ids belong to their tenant (another tenant's recent job may have
        // the same id), and (tenant, id) is what the primary key looks up.
        const result = await connection`
          delete from jobs where (tenant, id) in (
            select tenant, id from jobs
            where finished_at < ${olderThan.toISOString()}::timestamptz limit ${batchSize}
          )`;
        total += result.count;
        if (result.count < batchSize) break;
      }
      for (;;) {
        // A flow older than the retention has long ended (its nodes' rows go above).
        const result = await connection`
          delete from flows where (tenant, id) in (
            select tenant, id from flows
            where created_at < ${olderThan.toISOString()}::timestamptz limit ${batchSize}
          )`;
        if (result.count < batchSize) break;
      }
      for (;;) {
        const result = await connection`
          delete from webhook_deliveries where id in (
            select id from webhook_deliveries
            where created_at < ${olderThan.toISOString()}::timestamptz limit ${batchSize}
          )`;
        if (result.count < batchSize) return total;
      }
    } finally {
      await connection`select pg_advisory_unlock(${PRUNE_LOCK_ID})`;
    }
  } finally {
    connection.release();
  }
}
