import { type Database, jobs } from '@conveyor/core/db';
import { errorCodes } from '@conveyor/core/errors';
import type { ChildOutcome } from '@conveyor/sdk';
import { and, eq, inArray } from 'drizzle-orm';
import { type Attempt, errorAt, failure, type Outcome } from './attempt.js';

/** A flow node's end, by its terminal row. */
export type NodeEnd = ChildOutcome & { generation: number };

/** How flow nodes ended, by their terminal rows (those that have one). */
export type ChildReader = (tenant: string, ids: readonly string[]) => Promise<NodeEnd[]>;

/** Reads children's outcomes from their terminal rows (each committed before BullMQ moved the parent on). */
export function createChildReader(database: Database): ChildReader {
  return async (tenant, ids) => {
    if (ids.length === 0) return [];
    const rows = await database.db
      .select({
        id: jobs.id,
        type: jobs.type,
        status: jobs.status,
        result: jobs.result,
        error: jobs.error,
        generation: jobs.generation,
      })
      .from(jobs)
      .where(and(eq(jobs.tenant, tenant), inArray(jobs.id, [...ids])));
    return rows.map((row) => ({
      id: row.id,
      type: row.type,
      status: row.status,
      result: row.status === 'completed' ? (row.result ?? null) : null,
      error: row.error ? { code: row.error.code, message: row.error.message } : null,
      generation: row.generation,
    }));
  };
}

/**
 * The step before a flow node with children runs: BullMQ moves it on once every child has
 * ended (each child's failure is only noted, never BullMQ's to act on), and this applies
 * each child's `onFailure`: a failed, cancelled or expired child with `fail` (the default)
 * fails this node with CHILD_FAILED, unrun; with `ignore` the handler sees it in
 * `ctx.children()`; with `remove` it does not. A job that is not a parent passes with [].
 * A parent that already has a row of its generation (its flow was cancelled while it waited)
 * ends as that row says, unrun.
 */
export async function gateOnChildren(
  attempt: Attempt,
  readChildren: ChildReader,
): Promise<{ children: ChildOutcome[] } | { outcome: Outcome }> {
  const { envelope, base } = attempt;
  const wanted = envelope.flow?.children ?? [];
  if (wanted.length === 0) return { children: [] };
  const ended = new Map(
    (await readChildren(envelope.tenant, [base.jobId, ...wanted.map((child) => child.id)])).map((c) => [
      c.id,
      c,
    ]),
  );
  const own = ended.get(base.jobId);
  if (own && own.generation >= (envelope.generation ?? 0) && own.status !== 'completed') {
    // The row wins in the finish step; this outcome only says the same.
    const code = errorCodes.find((known) => known === own.error?.code) ?? 'CANCELLED';
    const error = errorAt(attempt, code, own.error?.message ?? `recorded ${own.status}`, false);
    return { outcome: { status: own.status, error } };
  }
  const children: ChildOutcome[] = [];
  for (const { id, onFailure } of wanted) {
    // Every child's row is committed before BullMQ lets the parent run; none is a child
    // removed from Redis by hand, which counts as failed.
    const child = ended.get(id) ?? {
      id,
      type: 'unknown',
      status: 'failed' as const,
      result: null,
      error: { code: 'CHILD_FAILED', message: 'no record of this child: it was removed before it ended' },
    };
    if (child.status === 'completed' || onFailure === 'ignore') children.push(child);
    else if (onFailure === 'fail') {
      const why = child.error ? `: ${child.error.message}` : '';
      return {
        outcome: failure(attempt, 'CHILD_FAILED', `child ${id} (${child.type}) ${child.status}${why}`),
      };
    }
  }
  return { children };
}
