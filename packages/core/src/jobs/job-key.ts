import { nameUuid } from './name-uuid.js';

/**
 * Terminology: a job's **id** is the UUID a client sees and may choose (`POST /v1/jobs {id}`);
 * it belongs to its tenant, so two tenants may use the same id for two unrelated jobs. Its
 * **queue job id** is the BullMQ job id it runs under, derived from the tenant and the id, so
 * no tenant can read, overwrite, pre-empt or block another tenant's job through an id,
 * whatever either has left in Redis. Postgres keys the terminal row by (tenant, id) likewise.
 */

/**
 * The BullMQ job id of `tenant`'s job `id`: the same in every process, so every replica finds
 * the job from the id in a request, and different for every tenant.
 *
 * @example
 * await queue.getJob(queueJobId(tenant, id));
 */
export function queueJobId(tenant: string, id: string): string {
  return nameUuid('job', tenant, id);
}

/**
 * The public id of a BullMQ job: its envelope's `id`. A job enqueued by a release before ids
 * were tenant-scoped has none; its BullMQ id was its id.
 */
export function publicJobId(job: { id?: string | undefined; data?: unknown }): string {
  const data = job.data as { id?: unknown } | null | undefined;
  return typeof data?.id === 'string' ? data.id : (job.id ?? '');
}

/**
 * Times a worker started the job's handler in this generation: BullMQ's `attemptsStarted`,
 * less the pick-ups by workers that did not serve its type and handed it back unrun.
 */
export function handlerStarts(job: { attemptsStarted: number; data?: unknown }): number {
  const data = job.data as { handBacks?: unknown } | null | undefined;
  return job.attemptsStarted - (typeof data?.handBacks === 'number' ? data.handBacks : 0);
}
