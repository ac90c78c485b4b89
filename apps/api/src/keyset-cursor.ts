import { ConveyorError } from '@conveyor/core/errors';
import { isUuid } from '@conveyor/core/jobs';

/** Where a page ordered by (created_at, id) ended: opaque to clients. */
export interface KeysetCursor {
  t: Date;
  i: string;
}

/** The cursor of the page that ended at the row (`createdAt`, `id`). */
export function encodeKeysetCursor(createdAt: Date, id: string): string {
  return Buffer.from(JSON.stringify({ t: createdAt.toISOString(), i: id })).toString('base64url');
}

/** Reads a cursor this API issued; anything else is a 400 naming `cursor`. */
export function decodeKeysetCursor(raw: string): KeysetCursor {
  try {
    const parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as { t: string; i: string };
    const t = new Date(parsed.t);
    if (Number.isNaN(t.getTime()) || !isUuid(parsed.i)) throw new Error('bad cursor');
    return { t, i: parsed.i };
  } catch {
    throw new ConveyorError(
      'VALIDATION_FAILED',
      'invalid cursor: pass nextCursor from a previous page unchanged',
      {
        issues: [{ path: 'cursor', message: 'not a cursor this API issued' }],
      },
    );
  }
}

/**
 * One page from rows fetched with `LIMIT limit + 1`, in the list's order: the extra row only
 * tells that another page follows, and the last row kept is where the next page starts.
 *
 * @example
 * const rows = await db.select().from(t).where(after).orderBy(asc(t.createdAt), asc(t.id)).limit(limit + 1);
 * const { rows: page, nextCursor } = keysetPage(rows, limit);
 */
export function keysetPage<R extends { createdAt: Date; id: string }>(
  rows: R[],
  limit: number,
): { rows: R[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    rows: page,
    nextCursor: rows.length > limit && last ? encodeKeysetCursor(last.createdAt, last.id) : null,
  };
}
