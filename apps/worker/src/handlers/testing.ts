import { setTimeout as sleepFor } from 'node:timers/promises';
import { ConveyorError } from '@conveyor/core/errors';
import type { TestingHandlerTable } from './handler.js';

/** Handlers of the failure-path types, registered only when ENABLE_TEST_JOB_TYPES=true. */
export const testingHandlers = {
  'test.fail': async ({ message, unrecoverable }) => {
    throw new ConveyorError('HANDLER_FAILED', message, { retryable: unrecoverable !== true });
  },
  'test.flaky': async ({ failures }, { attempt }) => {
    if (attempt <= failures)
      throw new ConveyorError('HANDLER_FAILED', `planned failure ${attempt}`, { retryable: true });
    return { attempt };
  },
  'test.hang': () => new Promise<never>(() => {}),
  'test.stubborn': async ({ ms }) => {
    await sleepFor(ms);
    return { done: true };
  },
  'test.progress': async ({ steps }, { progress, appendLog }) => {
    for (let step = 1; step <= steps; step++) {
      await progress(Math.round((step * 100) / steps));
      await appendLog(`step ${step} of ${steps}`);
      await sleepFor(10);
    }
    return { steps };
  },
  'test.perishable': async () => ({ ran: true }),
} satisfies TestingHandlerTable;
