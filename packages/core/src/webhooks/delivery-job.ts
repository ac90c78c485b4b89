import type { StatusEvent } from '../events/status-event.js';
import { nameUuid } from '../jobs/name-uuid.js';

/** What a delivery job (on the `callbacks` queue) carries. Secrets stay in Postgres. */
export interface DeliveryJobData {
  /** The delivery's id, also its BullMQ job id and its `webhook_deliveries` row id. */
  deliveryId: string;
  tenant: string;
  jobId: string;
  /** The subscription it is for; null for the job's own callbackUrl. */
  webhookId: string | null;
  url: string;
  /** The terminal status event, POSTed as the body. */
  event: StatusEvent;
}

/** The BullMQ job name of every delivery. */
export const DELIVERY_JOB_NAME = 'deliver';

/**
 * One delivery per (tenant's job, generation, target): a job re-run after a crash, or a cancel
 * recorded by both the API and the worker, names the same delivery and is not sent twice;
 * another tenant's job of the same id names another.
 */
export function deliveryId(tenant: string, jobId: string, generation: number, target: string): string {
  return nameUuid('delivery', tenant, jobId, String(generation), target);
}
