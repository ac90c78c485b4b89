/**
 * Queues Conveyor itself uses, served by workers next to the job types' queues:
 * - `schedules`: one tick job per run of a schedule (produced by BullMQ job schedulers),
 *   which the worker turns into the schedule's job;
 * - `callbacks`: one delivery job per completion callback or webhook POST.
 * No job type may use these names.
 */
export const SCHEDULES_QUEUE = 'schedules';
export const CALLBACKS_QUEUE = 'callbacks';
export const internalQueues = [SCHEDULES_QUEUE, CALLBACKS_QUEUE] as const;

/** Whether `name` is one of Conveyor's own queues. */
export function isInternalQueue(name: string): boolean {
  return (internalQueues as readonly string[]).includes(name);
}
