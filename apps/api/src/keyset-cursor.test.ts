import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeKeysetCursor, keysetPage } from './keyset-cursor.js';

const rows = Array.from({ length: 4 }, (_, i) => ({ id: randomUUID(), createdAt: new Date(1_000 + i) }));

describe('keysetPage', () => {
  it('keeps `limit` rows and points the cursor at the last one kept when the extra row came back', () => {
    const page = keysetPage(rows, 3);
    expect(page.rows).toEqual(rows.slice(0, 3));
    expect(decodeKeysetCursor(page.nextCursor ?? '')).toEqual({ t: rows[2]?.createdAt, i: rows[2]?.id });
  });

  it('ends the list (null cursor) when no extra row came back', () => {
    expect(keysetPage(rows, 4)).toEqual({ rows, nextCursor: null });
    expect(keysetPage([], 4)).toEqual({ rows: [], nextCursor: null });
  });
});
