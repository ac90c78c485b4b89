import { getTableColumns, type SQL, sql } from 'drizzle-orm';
import type { Db } from './connect.js';
import { jobs, type NewJobRow } from './schema.js';

const { id: _id, runs: _runs, ...replaced } = getTableColumns(jobs);

/** On conflict: every column from the newer generation's row, or kept as it is. */
const onConflictSet: Record<string, SQL> = {
  runs: sql`case when excluded.generation > ${jobs.generation} then ${jobs.runs} + excluded.runs
    else greatest(${jobs.runs}, excluded.runs) end`,
};
for (const [key, column] of Object.entries(replaced)) {
  // `excluded` takes the database column name: the snake_case of the key (casing: 'snake_case').
  const name = key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  onConflictSet[key] = sql`case when excluded.generation > ${jobs.generation}
    then excluded.${sql.identifier(name)} else ${column} end`;
}

/**
 * Writes terminal rows in one INSERT … ON CONFLICT. Recording is exactly-once per
 * generation: the first terminal row of a job wins and a later one of the same generation
 * (a re-run after a crash, or a cancel racing completion) only raises `runs`; a row of a
 * newer generation (the job was retried through the API) replaces it.
 *
 * Duplicate ids in one call are merged first (Postgres refuses them in one statement).
 */
export async function upsertTerminalRows(db: Db, rows: NewJobRow[]): Promise<void> {
  const byId = new Map<string, NewJobRow>();
  for (const row of rows) {
    const first = byId.get(row.id);
    if (!first || (row.generation ?? 0) > (first.generation ?? 0)) byId.set(row.id, { ...row });
    else first.runs = Math.max(first.runs ?? 1, row.runs ?? 1);
  }
  await db
    .insert(jobs)
    .values([...byId.values()])
    .onConflictDoUpdate({ target: jobs.id, set: onConflictSet });
}
