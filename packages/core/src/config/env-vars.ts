import * as v from 'valibot';

/** An integer variable with bounds; `fallback` is used when the variable is unset or empty. */
export function intVar(fallback: number, min: number, max: number) {
  return v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.regex(/^-?\d+$/, `must be an integer between ${min} and ${max}`),
      v.transform(Number),
      v.minValue(min, `must be an integer between ${min} and ${max}`),
      v.maxValue(max, `must be an integer between ${min} and ${max}`),
    ),
    String(fallback),
  );
}

/** `true`/`false` (also 1/0, yes/no). */
export function boolVar(fallback: boolean) {
  return v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.toLowerCase(),
      v.picklist(['true', 'false', '1', '0', 'yes', 'no'], 'must be true or false'),
      v.transform((s) => s === 'true' || s === '1' || s === 'yes'),
    ),
    String(fallback),
  );
}

/** A trimmed string that parses as a URL whose scheme is one of `schemes`. */
function urlOf(schemes: readonly string[]) {
  const expected = schemes.map((s) => `${s}://`).join(' or ');
  return v.pipe(
    v.string(),
    v.trim(),
    v.check((s) => {
      try {
        return schemes.includes(new URL(s).protocol.replace(/:$/, ''));
      } catch {
        return false;
      }
    }, `must be a URL starting with ${expected}`),
  );
}

/** A URL whose scheme is one of `schemes`. */
export function urlVar(fallback: string, schemes: readonly string[]) {
  return v.optional(urlOf(schemes), fallback);
}

/** The items of a comma-separated list, trimmed, empty ones dropped. */
function listItems(value: string): string[] {
  return value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
}

/** A comma-separated list of names matching `pattern`; empty means []. */
export function listVar(pattern: RegExp, what: string) {
  return v.optional(
    v.pipe(
      v.string(),
      v.transform(listItems),
      v.check((parts) => parts.every((p) => pattern.test(p)), `must be a comma-separated list of ${what}`),
    ),
    '',
  );
}

/** One of a fixed set of strings. */
export function enumVar<const T extends readonly [string, ...string[]]>(options: T, fallback: T[number]) {
  return v.optional(v.picklist(options, `must be one of ${options.join(', ')}`), fallback);
}

/** A non-empty string matching `pattern`. */
export function stringVar(fallback: string, pattern: RegExp, message: string) {
  return v.optional(v.pipe(v.string(), v.trim(), v.regex(pattern, message)), fallback);
}

/** An optional string matching `pattern`; undefined when unset. */
export function optionalVar(pattern: RegExp, message: string) {
  return v.optional(v.pipe(v.string(), v.trim(), v.regex(pattern, message)));
}

/** An optional URL with one of `schemes`; undefined when unset. */
export function optionalUrlVar(schemes: readonly string[]) {
  return v.optional(urlOf(schemes));
}

/**
 * Redis Cluster seed nodes: a comma-separated list of `host:port` or `redis[s]://…` URLs,
 * as URLs (`host:port` becomes `redis://host:port`); empty means [] (not a cluster).
 */
export function clusterNodesVar() {
  const isNode = (url: string) => {
    try {
      const parsed = new URL(url);
      return (
        ['redis:', 'rediss:'].includes(parsed.protocol) &&
        parsed.hostname !== '' &&
        parsed.pathname.length <= 1
      );
    } catch {
      return false;
    }
  };
  return v.optional(
    v.pipe(
      v.string(),
      v.transform((s) => listItems(s).map((part) => (/^[a-z]+:\/\//.test(part) ? part : `redis://${part}`))),
      v.check(
        (nodes) => nodes.every(isNode),
        'must be a comma-separated list of host:port or redis://[user:password@]host:port (rediss:// for TLS)',
      ),
    ),
    '',
  );
}

/**
 * Queue partitions: a comma-separated list of `queue=count` (count 1 to `max`), as a map;
 * empty means none (every queue has one partition).
 */
export function partitionsVar(max: number) {
  const item = /^([a-z][a-z0-9-]{0,62})=(\d{1,3})$/;
  return v.optional(
    v.pipe(
      v.string(),
      v.transform(listItems),
      v.check(
        (parts) =>
          parts.every((part) => {
            const count = Number(item.exec(part)?.[2] ?? 0);
            return count >= 1 && count <= max;
          }),
        `must be a comma-separated list of queue=count, count 1 to ${max} (e.g. images=4)`,
      ),
      v.check(
        (parts) => new Set(parts.map((part) => part.split('=')[0])).size === parts.length,
        'must name each queue once',
      ),
      v.transform(
        (parts): ReadonlyMap<string, number> =>
          new Map(parts.map((part) => [part.split('=')[0] ?? '', Number(part.split('=')[1])])),
      ),
    ),
    '',
  );
}
