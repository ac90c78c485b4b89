import { setTimeout as sleepFor } from 'node:timers/promises';
import type { JobInput } from '@conveyor/core/jobs';
import type { Handler } from './handler.js';

export const noop: Handler<JobInput<'noop'>> = async () => null;

export const echo: Handler<JobInput<'echo'>> = async (input) => input;

/** Rejects with the signal's reason as soon as the job is cancelled or times out. */
export const sleep: Handler<JobInput<'sleep'>> = async ({ ms }, { signal }) => {
  const started = Date.now();
  await sleepFor(ms, undefined, { signal });
  return { sleptMs: Date.now() - started };
};
