import { dataExceptionProblem } from '@conveyor/core/db';
import { ConveyorError } from '@conveyor/core/errors';

/**
 * Runs a Redis or Postgres call, turning a failure of the dependency into a retryable 503.
 * Postgres refusing the data itself (SQLSTATE class 22: a NUL character in text, a time out
 * of range) is the client's mistake: a 400 saying what was wrong, never the SQL or values.
 */
export async function orUnavailable<T>(what: 'Redis' | 'Postgres', call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof ConveyorError) throw error;
    const problem = dataExceptionProblem(error);
    if (problem) {
      throw new ConveyorError('VALIDATION_FAILED', `invalid input: ${problem}`, {
        cause: error,
        issues: [{ path: '', message: problem }],
      });
    }
    throw new ConveyorError('UNAVAILABLE', `${what} is unavailable, try again shortly`, {
      cause: error,
      retryable: true,
    });
  }
}
