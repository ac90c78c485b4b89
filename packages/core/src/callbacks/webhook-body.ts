import * as v from 'valibot';
import type { DeliveryAttempt } from '../db/schema.js';
import type { StatusEvent } from '../events/status-event.js';
import { terminalStatuses } from '../jobs/job-status.js';
import { callbackUrlSchema } from '../jobs/submit.js';

const secret = v.pipe(
  v.string(),
  v.minLength(16, 'must be at least 16 characters'),
  v.maxLength(200, 'must be at most 200 characters'),
);
const types = v.pipe(v.array(v.pipe(v.string(), v.minLength(1), v.maxLength(64))), v.maxLength(100));
const statuses = v.pipe(
  v.array(v.picklist(terminalStatuses, `each status must be one of ${terminalStatuses.join(', ')}`)),
  v.maxLength(terminalStatuses.length),
);
const description = v.pipe(v.string(), v.maxLength(500));

/**
 * The body of POST /v1/webhooks: where to POST the tenant's terminal status events, which
 * ones (job `types` and `statuses`; empty or absent: all), and the signing `secret`
 * (generated when absent; returned only in this answer).
 */
export const createWebhookBody = v.strictObject({
  url: callbackUrlSchema,
  types: v.optional(types),
  statuses: v.optional(statuses),
  secret: v.optional(secret),
  description: v.optional(description),
  enabled: v.optional(v.boolean()),
});
export type CreateWebhookBody = v.InferOutput<typeof createWebhookBody>;

/** The body of PATCH /v1/webhooks/:id; a new `secret` replaces the old one at once. */
export const updateWebhookBody = v.strictObject({
  url: v.optional(callbackUrlSchema),
  types: v.optional(types),
  statuses: v.optional(statuses),
  secret: v.optional(secret),
  description: v.optional(v.nullable(description)),
  enabled: v.optional(v.boolean()),
});
export type UpdateWebhookBody = v.InferOutput<typeof updateWebhookBody>;

/** A webhook as the API shows it: never with its secret (except right after it was set). */
export interface WebhookView {
  id: string;
  url: string;
  types: string[];
  statuses: string[];
  description: string | null;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
  links: { self: string; deliveries: string };
  /** Only in the answer that set it. */
  secret?: string;
}

/** One delivery with every attempt, as the API shows it. */
export interface DeliveryView {
  id: string;
  webhookId: string | null;
  jobId: string;
  url: string;
  /** `pending` (will try again), `delivered` (a 2xx) or `failed` (gave up). */
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  attemptLog: DeliveryAttempt[];
  event: StatusEvent;
  createdAt: string;
  updatedAt: string;
  deliveredAt: string | null;
}
