import { ConveyorError } from '@conveyor/core/errors';

/** Runs a Redis or Postgres call, turning a failure of the dependency into a retryable 503. */
export async function orUnavailable<T>(what: 'Redis' | 'Postgres', call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof ConveyorError) throw error;
    throw new ConveyorError('UNAVAILABLE', `${what} is unavailable, try again shortly`, {
      cause: error,
      retryable: true,
    });
  }
}
