import { DrizzleQueryError } from 'drizzle-orm/errors';
import { describe, expect, it } from 'vitest';
import { ConveyorError } from '../errors/index.js';
import { createLogger } from './create-logger.js';

const SECRET = 'whsec_4f1c9d0e7b2a';
const QUERY = 'insert into "webhooks" ("id", "url", "secret") values ($1, $2, $3)';

/** A logger whose lines land in `lines`. */
function memoryLogger() {
  const lines: string[] = [];
  const logger = createLogger({ name: 'test', destination: { write: (line: string) => lines.push(line) } });
  return { logger, lines };
}

/** What drizzle 0.45 throws when Postgres refuses a statement: its message holds the params. */
function failedInsert(): DrizzleQueryError {
  return new DrizzleQueryError(
    QUERY,
    ['0b7e2d4c-2f5e-4a51-9d0e-5c1f7a8b9c0d', 'https://example.com/hook', SECRET],
    new Error('connect ECONNREFUSED 127.0.0.1:5432'),
  );
}

describe('createLogger', () => {
  it("logs a query failure wrapped in a ConveyorError with the query and the cause, never the query's params", () => {
    const { logger, lines } = memoryLogger();
    const failure = failedInsert();
    const error = new ConveyorError('UNAVAILABLE', 'Postgres is unavailable, try again shortly', {
      cause: failure,
    });
    logger.error({ err: error, code: error.code }, 'request error');

    expect(lines).toHaveLength(1);
    const line = lines[0] ?? '';
    expect(line).not.toContain(SECRET);
    expect(line).not.toContain('https://example.com/hook');
    const { err } = JSON.parse(line) as { err: { type: string; message: string; stack: string } };
    expect(err.type).toBe('ConveyorError');
    expect(err.message).toContain('Postgres is unavailable');
    expect(err.message).toContain(QUERY);
    expect(err.message).toContain('ECONNREFUSED');
    expect(err.stack).toContain(QUERY);
    // The error itself is left as it was: only the log line is cleaned.
    expect(failure.message).toContain(SECRET);
    expect(error.cause).toBe(failure);
  });

  it('logs a bare query failure, as `err` or as the only argument, with or without a message, without its params', () => {
    const { logger, lines } = memoryLogger();
    logger.warn({ err: failedInsert() }, 'write failed');
    logger.error(failedInsert());
    // Without a message, pino makes the error's message the line's `msg`.
    logger.error({ err: new ConveyorError('UNAVAILABLE', 'down', { cause: failedInsert() }) });
    logger.child({ requestId: 'r1' }).error({ err: failedInsert() });
    expect(lines).toHaveLength(4);
    for (const line of lines) {
      expect(line).not.toContain(SECRET);
      const { err, msg } = JSON.parse(line) as { err: { message: string }; msg: string };
      expect(err.message).toContain(QUERY);
      expect(msg).not.toBe('');
    }
  });

  it('keeps logging ordinary errors whole', () => {
    const { logger, lines } = memoryLogger();
    logger.error({ err: new Error('boom', { cause: new Error('underneath') }) }, 'failed');
    const { err } = JSON.parse(lines[0] ?? '') as { err: { type: string; message: string } };
    expect(err).toMatchObject({ type: 'Error', message: 'boom: underneath' });
  });
});
