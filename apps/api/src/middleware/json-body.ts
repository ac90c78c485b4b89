import { assertStorable, ConveyorError } from '@conveyor/core/errors';
import type { Context } from 'hono';

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/** Deepest nesting of arrays and objects a body may have. */
export const MAX_JSON_DEPTH = 32;

/**
 * Walks a parsed JSON value without recursion (a hostile body cannot overflow the stack):
 * its nesting depth, and whether it holds a number JSON.parse turned into Infinity (1e400),
 * which would silently become null when stored.
 */
function inspect(value: unknown): { depth: number; infinite: boolean } {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop() as [unknown, number];
    if (typeof current === 'number' && !Number.isFinite(current)) return { depth: max, infinite: true };
    if (current === null || typeof current !== 'object') continue;
    if (depth + 1 > max) max = depth + 1;
    if (max > MAX_JSON_DEPTH) return { depth: max, infinite: false };
    for (const child of Object.values(current)) stack.push([child, depth + 1]);
  }
  return { depth: max, infinite: false };
}

/**
 * Reads the request body as JSON: 415 unless the content type is JSON, 400 when it does
 * not parse, nests deeper than MAX_JSON_DEPTH, holds a number beyond double range, or holds
 * a string or key Postgres cannot store (NUL, a lone UTF-16 surrogate; the 400 names its
 * path, e.g. `data.a.b` or `jobs.3.metadata.note`). Every JSON route reads its body here, so
 * whatever the API accepts can be stored when the job ends. The size limit is enforced
 * before, by the bodyLimit middleware.
 */
export async function readJsonBody(c: Context): Promise<unknown> {
  const contentType = c.req.header('content-type') ?? '';
  if (!JSON_TYPE.test(contentType)) {
    throw new ConveyorError(
      'UNSUPPORTED_MEDIA_TYPE',
      `send the body as application/json (got ${contentType === '' ? 'no content type' : JSON.stringify(contentType.slice(0, 100))})`,
    );
  }
  const text = await c.req.text();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : 'unparseable';
    throw new ConveyorError('MALFORMED_JSON', `the body is not valid JSON: ${reason}`);
  }
  const { depth, infinite } = inspect(value);
  if (depth > MAX_JSON_DEPTH) {
    throw new ConveyorError('VALIDATION_FAILED', `the body nests deeper than ${MAX_JSON_DEPTH} levels`);
  }
  if (infinite)
    throw new ConveyorError('VALIDATION_FAILED', 'the body holds a number too large to represent');
  assertStorable(value);
  return value;
}
