/**
 * Characters Postgres text and jsonb cannot hold: U+0000, and a UTF-16 surrogate that is not
 * half of a pair (a high one not followed by a low one, a low one not preceded by a high one).
 * JSON.parse and JavaScript strings allow both; Postgres refuses the whole statement.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding U+0000 is the point.
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNSTORABLE_ALL = new RegExp(UNSTORABLE.source, 'g');

/** Where a value holds something Postgres cannot store, and what. */
export interface Unstorable {
  /** Dotted path to the offending string or key, e.g. `data.a.b` or `metadata.<key>`; empty for the value itself. */
  path: string;
  /** What is wrong there, in plain words. */
  message: string;
}

/** How a string's first unstorable character is described, or undefined when it has none. */
function problemIn(text: string): string | undefined {
  const found = UNSTORABLE.exec(text)?.[0];
  if (found === undefined) return undefined;
  if (found === '\u0000') return 'the NUL character (U+0000)';
  const hex = found.charCodeAt(0).toString(16).toUpperCase();
  return `a lone UTF-16 surrogate (U+${hex}) that is not half of a pair`;
}

/** A key as it can be shown in a path: each unstorable character written as its \u escape. */
function shownKey(key: string): string {
  return key.replace(UNSTORABLE_ALL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const join = (path: string, key: string): string => (path === '' ? key : `${path}.${key}`);

/**
 * The first string or object key in `value` (a parsed JSON value) that Postgres cannot
 * store, or undefined when every one can. Walks without recursion, so a deep value cannot
 * overflow the stack; arrays and objects are visited in order.
 *
 * @example
 * findUnstorable({ data: { a: 'x\ud800' } }); // { path: 'data.a', message: 'holds a lone UTF-16 surrogate …' }
 */
export function findUnstorable(value: unknown, prefix = ''): Unstorable | undefined {
  const stack: [unknown, string][] = [[value, prefix]];
  while (stack.length > 0) {
    const [current, path] = stack.pop() as [unknown, string];
    if (typeof current === 'string') {
      const problem = problemIn(current);
      if (problem) return { path, message: `holds ${problem}, which cannot be stored` };
      continue;
    }
    if (current === null || typeof current !== 'object') continue;
    const entries = Object.entries(current);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, child] = entries[i] as [string, unknown];
      stack.push([child, join(path, shownKey(key))]);
    }
    for (const [key] of entries) {
      const problem = problemIn(key);
      if (problem) {
        return {
          path: join(path, shownKey(key)),
          message: `the key holds ${problem}, which cannot be stored`,
        };
      }
    }
  }
  return undefined;
}

/** `text` with every character Postgres cannot store replaced by U+FFFD. */
export function storableText(text: string): string {
  return UNSTORABLE.test(text) ? text.replace(UNSTORABLE_ALL, '\ufffd') : text;
}

/**
 * A copy of a JSON value that Postgres can store: every string and key passed through
 * storableText. Values other than strings, arrays and plain objects are kept as they are.
 */
export function toStorable(value: unknown): unknown {
  if (typeof value === 'string') return storableText(value);
  if (Array.isArray(value)) return value.map(toStorable);
  if (value === null || typeof value !== 'object') return value;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) copy[storableText(key)] = toStorable(child);
  return copy;
}
