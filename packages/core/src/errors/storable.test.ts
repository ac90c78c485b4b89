import { describe, expect, it } from 'vitest';
import { isConveyorError } from './conveyor-error.js';
import { findUnstorable, storableText, toStorable } from './storable.js';
import { assertStorable } from './validation.js';

describe('findUnstorable', () => {
  it('finds a lone high surrogate, a lone low one and a reversed pair', () => {
    expect(findUnstorable('a\ud800b')).toEqual({ path: '', message: expect.stringMatching(/U\+D800/) });
    expect(findUnstorable('a\ud800')?.message).toMatch(/lone UTF-16 surrogate/);
    expect(findUnstorable('\udc00b')?.message).toMatch(/U\+DC00/);
    expect(findUnstorable('\udc00\ud800')?.message).toMatch(/U\+DC00/);
  });

  it('finds NUL in a value', () => {
    expect(findUnstorable({ data: { text: 'a\u0000b' } })).toEqual({
      path: 'data.text',
      message: 'holds the NUL character (U+0000), which cannot be stored',
    });
  });

  it('finds NUL or a lone surrogate in a key, and shows the key escaped in the path', () => {
    expect(findUnstorable({ metadata: { 'a\u0000': 1 } })).toEqual({
      path: 'metadata.a\\u0000',
      message: 'the key holds the NUL character (U+0000), which cannot be stored',
    });
    expect(findUnstorable({ metadata: { '\ud83d': 'x' } })?.path).toBe('metadata.\\ud83d');
  });

  it('allows valid pairs (emoji), other text and non-string values', () => {
    expect(
      findUnstorable({ '😀': ['😀 ok', '\ud83d\ude00', '\\u0000 escaped text', 1, true, null, { x: 1.5 }] }),
    ).toBeUndefined();
    expect(findUnstorable(42)).toBeUndefined();
    expect(findUnstorable(null)).toBeUndefined();
  });

  it('names array indices, walks deep nesting without recursion and reports the first in order', () => {
    expect(findUnstorable({ jobs: [{ data: 'ok' }, { data: { a: { b: '\ud800' } } }] })?.path).toBe(
      'jobs.1.data.a.b',
    );
    let deep: unknown = '\u0000';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(findUnstorable(deep)?.path).toBe(Array.from({ length: 100_000 }, () => '0').join('.'));
    expect(findUnstorable({ a: 'x\u0000', b: '\ud800' })?.path).toBe('a');
    expect(findUnstorable(['fine', '\ud800'], 'logs')?.path).toBe('logs.1');
  });
});

describe('storableText and toStorable', () => {
  it('replace each unstorable character by U+FFFD, keeping valid pairs', () => {
    expect(storableText('a\u0000b\ud800c\udc00\ud800😀')).toBe('a\ufffdb\ufffdc\ufffd\ufffd😀');
    expect(toStorable({ 'k\ud800': ['\u0000', 1, null, { x: '😀' }] })).toEqual({
      'k\ufffd': ['\ufffd', 1, null, { x: '😀' }],
    });
    expect(findUnstorable(toStorable({ a: ['\udc00', { '\u0000': '\ud800' }] }))).toBeUndefined();
  });
});

describe('assertStorable', () => {
  it('throws VALIDATION_FAILED naming the field path, with one issue', () => {
    let thrown: unknown;
    try {
      assertStorable({ data: { a: { b: 'lone \ud800 surrogate' } } });
    } catch (error) {
      thrown = error;
    }
    expect(isConveyorError(thrown, 'VALIDATION_FAILED')).toBe(true);
    expect((thrown as Error).message).toMatch(/^invalid input: data\.a\.b: holds a lone UTF-16 surrogate/);
    expect(thrown).toMatchObject({ issues: [{ path: 'data.a.b' }] });
    expect(() => assertStorable({ data: '😀' })).not.toThrow();
  });
});
