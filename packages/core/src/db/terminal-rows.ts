import { type Column, getTableColumns, getTableName, is, SQL, sql } from 'drizzle-orm';
import { toSnakeCase } from 'drizzle-orm/casing';
import { PgDialect } from 'drizzle-orm/pg-core';
import type { ErrorRecord } from '../errors/index.js';
import type { TerminalStatus } from '../jobs/job-status.js';
import type { Db } from './connect.js';
import { jobs, type NewJobRow } from './schema.js';

const columns = Object.entries(getTableColumns(jobs)).map(([key, column]: [string, Column]) => ({
  key,
  // The schema is declared with casing: 'snake_case'.
  name: toSnakeCase(key),
  /** A default the database computes (now()): applied in SQL when the row leaves it out. */
  sqlDefault: is(column.default, SQL) ? column.default : undefined,
  /** A constant default ('default', [], 0): applied when the record is built. */
  valueDefault: column.hasDefault && !is(column.default, SQL) ? column.default : undefined,
}));

const table = sql.identifier(getTableName(jobs));
const columnList = sql.join(
  columns.map((c) => sql.identifier(c.name)),
  sql`, `,
);
const selectList = sql.join(
  columns.map((c) =>
    c.sqlDefault
      ? sql`coalesce(r.${sql.identifier(c.name)}, ${c.sqlDefault})`
      : sql`r.${sql.identifier(c.name)}`,
  ),
  sql`, `,
);
/** On conflict: every column from the newer generation's row, or kept as it is; runs add up. */
const onConflictSet = sql.join(
  columns
    .filter((c) => c.name !== 'id' && c.name !== 'tenant')
    .map((c) =>
      c.name === 'runs'
        ? sql`runs = case when excluded.generation > ${table}.generation then ${table}.runs + excluded.runs
            else greatest(${table}.runs, excluded.runs) end`
        : sql`${sql.identifier(c.name)} = case when excluded.generation > ${table}.generation
            then excluded.${sql.identifier(c.name)} else ${table}.${sql.identifier(c.name)} end`,
    ),
  sql`, `,
);

/** The statement, rendered once from the schema; its one parameter is the rows as a JSON array. */
const UPSERT_SQL = new PgDialect({ casing: 'snake_case' }).sqlToQuery(
  sql`insert into ${table} (${columnList})
    select ${selectList} from jsonb_populate_recordset(null::${table}, ${sql.placeholder('rows')}::jsonb) as r
    on conflict (tenant, id) do update set ${onConflictSet}
    returning tenant, id, status, result, error, generation`,
).sql;

/**
 * What a job's row holds once its upsert committed: the outcome that won, which is this
 * row's own or an earlier one's (a cancel, a first run before a crash) or a newer generation's.
 */
export interface RecordedOutcome {
  tenant: string;
  id: string;
  status: TerminalStatus;
  result: unknown;
  error: ErrorRecord | null;
  generation: number;
}

/** A row as the JSON object jsonb_populate_recordset reads: database column names, defaults filled. */
function toRecord(row: NewJobRow): Record<string, unknown> {
  const values = row as Record<string, unknown>;
  const record: Record<string, unknown> = {};
  for (const c of columns) record[c.name] = values[c.key] ?? c.valueDefault ?? null;
  return record;
}

/**
 * Writes terminal rows in one INSERT … ON CONFLICT, and answers, for each row given, what
 * its job's row holds now. Recording is exactly-once per
 * generation: the first terminal row of a job wins and a later one of the same generation
 * (a re-run after a crash, or a cancel racing completion) only raises `runs`; a row of a
 * newer generation (the job was retried through the API) replaces it.
 *
 * The rows travel as one jsonb parameter (jsonb_populate_recordset), so the statement text
 * is the same for every batch size: prepared once, and no per-value parameter to build —
 * this is the worker's hottest write. Duplicate (tenant, id) keys in one call are merged
 * first (Postgres refuses them in one statement). A row holding what Postgres cannot store (NUL, a lone
 * surrogate) fails the whole statement with a data exception: the worker's result writer
 * isolates it and stores a safe form instead.
 */
export async function upsertTerminalRows(db: Db, rows: NewJobRow[]): Promise<RecordedOutcome[]> {
  const byId = new Map<string, NewJobRow>();
  for (const row of rows) {
    const key = rowKey(row.tenant ?? 'default', row.id);
    const first = byId.get(key);
    if (!first || (row.generation ?? 0) > (first.generation ?? 0)) byId.set(key, { ...row });
    else first.runs = Math.max(first.runs ?? 1, row.runs ?? 1);
  }
  // In key order: batches committing at once lock shared rows in the same order (no deadlock).
  const sorted = [...byId.keys()].sort().map((key) => byId.get(key) as NewJobRow);
  const records = JSON.stringify(sorted.map(toRecord));
  // A named (prepared) statement: one round trip per batch, where Drizzle's unnamed
  // db.execute() costs two (Parse/Describe, then Bind/Execute).
  const stored = await db.$client.unsafe<RecordedOutcome[]>(UPSERT_SQL, [records], { prepare: true });
  const byStoredId = new Map(stored.map((outcome) => [rowKey(outcome.tenant, outcome.id), outcome]));
  return rows.map((row) => byStoredId.get(rowKey(row.tenant ?? 'default', row.id)) as RecordedOutcome);
}

/** A row's key: ids belong to their tenant. */
function rowKey(tenant: string, id: string): string {
  return `${tenant}\u0000${id}`;
}
