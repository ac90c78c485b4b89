import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeKeysetCursor, encodeKeysetCursor, keysetPage } from './keyset-cursor.js';

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

describe('decodeKeysetCursor', () => {
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

  it('reads back what encodeKeysetCursor wrote', () => {
    const id = randomUUID();
    const t = new Date('2024-05-06T07:08:09.123Z');
    expect(decodeKeysetCursor(encodeKeysetCursor(t, id))).toEqual({ t, i: id });
  });

  it('refuses anything it did not write with a 400 naming cursor', () => {
    const id = randomUUID();
    for (const raw of [
      '',
      '!!!',
      `${encodeKeysetCursor(new Date(0), id)}=`,
      b64({ t: 0, i: id }),
      b64({ t: '2024-05-06T07:08:09Z', i: id }),
      b64({ t: '+275760-09-13T00:00:00.000Z', i: id }),
      b64({ t: '2024-05-06T07:08:09.123Z', i: 'x' }),
      b64({ t: '2024-05-06T07:08:09.123Z', i: id, more: true }),
      b64([1]),
      Buffer.from([0xff, 0xfe, 0x00]).toString('base64url'),
    ]) {
      expect(() => decodeKeysetCursor(raw), raw).toThrow(
        expect.objectContaining({
          code: 'VALIDATION_FAILED',
          issues: [expect.objectContaining({ path: 'cursor' })],
        }),
      );
    }
  });
});
