import * as v from 'valibot';

/**
 * A JSON object (not an array) whose keys and values match the given schemas. valibot's
 * `record` alone accepts arrays, turning `[]` into `{}`.
 */
export function plainRecord<
  K extends v.GenericSchema<string, string | number | symbol>,
  V extends v.GenericSchema,
>(key: K, value: V) {
  return v.pipe(
    v.custom<Record<string, unknown>>(
      (input) => typeof input === 'object' && input !== null && !Array.isArray(input),
      'must be an object',
    ),
    v.record(key, value),
  );
}
