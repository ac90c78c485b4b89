import postgres from 'postgres';

/** What a data exception means, in words a client can act on, by SQLSTATE. */
const problemByCode: Record<string, string> = {
  // Text (22021) and jsonb strings (22P05) cannot hold U+0000.
  '22021': 'text must not contain the NUL character (U+0000)',
  '22P05': 'text must not contain the NUL character (U+0000)',
  '22007': 'a date or time is malformed or out of the range that can be stored',
  '22008': 'a date or time is out of the range that can be stored',
  '22009': 'a date or time is out of the range that can be stored',
  '22003': 'a number is out of the range that can be stored',
  '22001': 'a value is longer than can be stored',
};

/** The error Postgres itself answered with, wherever it sits along `error`'s cause chain. */
function postgresError(error: unknown): postgres.PostgresError | undefined {
  const seen = new Set<unknown>();
  for (let at = error; at instanceof Error && !seen.has(at); at = at.cause) {
    if (at instanceof postgres.PostgresError) return at;
    seen.add(at);
  }
  return undefined;
}

/**
 * When Postgres refused a statement for the data it carried (SQLSTATE class 22, "data
 * exception": a NUL character in text, a date out of range…), what was wrong, in plain words
 * and without the SQL or the values; otherwise undefined. Such a failure is the input's
 * fault, not the database's: the same request fails again. Connection failures are not
 * PostgresErrors (postgres.js raises them with codes such as ECONNREFUSED).
 */
export function dataExceptionProblem(error: unknown): string | undefined {
  const code = postgresError(error)?.code;
  if (!code?.startsWith('22')) return undefined;
  return problemByCode[code] ?? 'a value cannot be stored as given';
}
