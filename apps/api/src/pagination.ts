import * as v from 'valibot';

/** One page of a list; pass `nextCursor` back as `cursor` until it is null. */
export interface Page<T> {
  items: T[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

/** An integer query parameter from 1 to `max`, `fallback` when absent; any other value is a 400 on it. */
export function integerParam(description: string, max: number, fallback: string) {
  const message = `must be an integer from 1 to ${max}`;
  return v.optional(
    v.pipe(
      v.string(),
      v.description(description),
      v.regex(/^\d+$/, message),
      v.transform(Number),
      v.minValue(1, message),
      v.maxValue(max, message),
    ),
    fallback,
  );
}

/** The `limit` query parameter of a list: an integer string from 1 to `max`, 50 when absent. */
export function limitParam(noun: string, max: number) {
  return integerParam(`${noun} per page, 1 to ${max}.`, max, '50');
}

/** The `cursor` query parameter of a list: the previous page's `nextCursor`, as it was. */
export function cursorParam(maxLength: number) {
  return v.optional(
    v.pipe(
      v.string(),
      v.maxLength(maxLength),
      v.description('`nextCursor` of the previous page, unchanged.'),
    ),
  );
}
