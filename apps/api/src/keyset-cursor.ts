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

/** The 400 of a cursor this API did not issue, naming the `cursor` parameter. */
export function invalidCursor(): ConveyorError {
  return new ConveyorError(
    'VALIDATION_FAILED',
    'invalid cursor: pass nextCursor from a previous page unchanged',
    {
      issues: [{ path: 'cursor', message: 'not a cursor this API issued' }],
    },
  );
}

/**
 * The JSON a cursor carries, decoded strictly: canonical base64url (re-encoding gives the
 * same text), so a cursor has one spelling and random bytes are refused, not half-read.
 */
export function decodeCursorJson(raw: string): unknown {
  const bytes = Buffer.from(raw, 'base64url');
  if (raw === '' || bytes.toString('base64url') !== raw) throw invalidCursor();
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw invalidCursor();
  }
}

/** An instant as `toISOString()` writes it, in years 0000-9999 (what Postgres stores too). */
export function isCursorTime(t: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(t)) return false;
  const time = new Date(t);
  return !Number.isNaN(time.getTime()) && time.toISOString() === t;
}

/**
 * Reads a cursor this API issued; anything else is a 400 naming `cursor`. The time must be
 * an ISO string as `toISOString()` writes it and the id a UUID, with no other fields: a
 * forged cursor can still name any place in the list (the page starts strictly after it,
 * so it never repeats), but it cannot smuggle in anything else.
 */
export function decodeKeysetCursor(raw: string): KeysetCursor {
  const parsed = decodeCursorJson(raw);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalidCursor();
  const { t, i, ...rest } = parsed as Record<string, unknown>;
  if (
    Object.keys(rest).length > 0 ||
    typeof t !== 'string' ||
    !isCursorTime(t) ||
    typeof i !== 'string' ||
    !isUuid(i)
  ) {
    throw invalidCursor();
  }
  return { t: new Date(t), i };
}

/**
 * One page from rows fetched with `LIMIT limit + 1`, in the list's order: the extra row only
 * tells that another page follows, and the last row kept is where the next page starts.
 * Fetch strictly after the given cursor, so the next cursor is always past it.
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
