import { ConveyorError } from '@conveyor/core/errors';
import { isUuid } from './pagination.js';

/** Where a page ordered by (created_at, id) ended: opaque to clients. */
export interface KeysetCursor {
  t: Date;
  i: string;
}

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
