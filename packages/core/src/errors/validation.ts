import * as v from 'valibot';
import { ConveyorError, type FieldIssue } from './conveyor-error.js';
import { findUnstorable } from './storable.js';

/** Maps valibot issues to Conveyor's field issues, with `prefix` in front of each path. */
export function toFieldIssues(issues: readonly v.BaseIssue<unknown>[], prefix = ''): FieldIssue[] {
  return issues.map((issue) => {
    const path = v.getDotPath(issue);
    const full = [prefix, path].filter((part) => part !== null && part !== '').join('.');
    return { path: full, message: plainMessage(issue) };
  });
}

/** `data.ms: must be number, not "x"; data.foo: unknown field "foo"`: one line for a message. */
export function summarizeIssues(issues: readonly FieldIssue[]): string {
  return issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
}

/**
 * valibot's default messages in plain words (`Invalid key: Expected never but received "foo"`
 * becomes `unknown field "foo"`); a schema's own message is kept as it is.
 */
export function plainMessage(issue: v.BaseIssue<unknown>): string {
  const { message, expected, received } = issue;
  if (message.startsWith('Invalid key: ')) {
    if (expected === 'never') return `unknown field ${received}`;
    if (received === 'undefined') return 'is required';
  }
  if (message.startsWith('Invalid type: ') && expected !== null) {
    return received === 'undefined' ? `is required (${expected})` : `must be ${expected}, not ${received}`;
  }
  return message;
}

/**
 * Parses `value` with `schema` or throws a VALIDATION_FAILED ConveyorError naming every
 * bad field.
 *
 * @example
 * const input = parseOrThrow(sleepInput, body.data, 'data');
 */
export function parseOrThrow<S extends v.GenericSchema>(
  schema: S,
  value: unknown,
  prefix = '',
): v.InferOutput<S> {
  const result = v.safeParse(schema, value);
  if (result.success) return result.output;
  const issues = toFieldIssues(result.issues, prefix);
  throw new ConveyorError('VALIDATION_FAILED', `invalid input: ${summarizeIssues(issues)}`, { issues });
}

/**
 * Throws a VALIDATION_FAILED ConveyorError naming the first string or key of `value` that
 * Postgres cannot store, with `prefix` in front of its path (so a 400 says `data.a.b`).
 *
 * @example
 * assertStorable(await c.req.json()); // 400 "invalid input: metadata.note: holds the NUL character …"
 */
export function assertStorable(value: unknown, prefix = ''): void {
  const found = findUnstorable(value, prefix);
  if (!found) return;
  const where = found.path === '' ? '' : `${found.path}: `;
  throw new ConveyorError('VALIDATION_FAILED', `invalid input: ${where}${found.message}`, {
    issues: [found],
  });
}
