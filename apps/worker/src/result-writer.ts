import { type Db, jobs, type NewJobRow } from '@conveyor/core/db';
import { sql } from 'drizzle-orm';
import { type Batcher, createBatcher } from './batcher.js';

/**
 * Upserts terminal rows, many per INSERT. Recording is exactly-once: the first terminal
 * row of a job wins; a later one (a re-run after a crash) only raises `runs`.
 */
export function createResultWriter({
  db,
  maxBatchSize = 500,
}: {
  db: Db;
  maxBatchSize?: number;
}): Batcher<NewJobRow> {
  return createBatcher({ maxBatchSize, commit: (rows) => upsertTerminalRows(db, rows) });
}

/** One INSERT … ON CONFLICT for the batch; duplicate ids in it are merged first (Postgres refuses them). */
export async function upsertTerminalRows(db: Db, rows: NewJobRow[]): Promise<void> {
  const byId = new Map<string, NewJobRow>();
  for (const row of rows) {
    const first = byId.get(row.id);
    if (first) first.runs = Math.max(first.runs ?? 1, row.runs ?? 1);
    else byId.set(row.id, { ...row });
  }
  await db
    .insert(jobs)
    .values([...byId.values()])
    .onConflictDoUpdate({
      target: jobs.id,
      set: { runs: sql`greatest(${jobs.runs}, excluded.runs)`, updatedAt: sql`now()` },
    });
}
