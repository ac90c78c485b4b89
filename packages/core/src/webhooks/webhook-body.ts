import * as v from 'valibot';
import type { DeliveryAttempt } from '../db/schema.js';
import type { StatusEvent } from '../events/status-event.js';
import { terminalStatuses } from '../jobs/job-status.js';
import { callbackUrlSchema } from '../jobs/submit.js';

const secret = v.pipe(
  v.string(),
  v.minLength(16, 'must be at least 16 characters'),
  v.maxLength(200, 'must be at most 200 characters'),
  v.description(
    'The HMAC key that signs its deliveries. Generated (`whsec_…`) when absent on create; on PATCH it replaces the old one at once.',
  ),
);
const types = v.pipe(
  v.array(v.pipe(v.string(), v.minLength(1), v.maxLength(64))),
  v.maxLength(100),
  v.description('Only jobs of these types; empty: every type.'),
);
const statuses = v.pipe(
  v.array(v.picklist(terminalStatuses, `each status must be one of ${terminalStatuses.join(', ')}`)),
  v.maxLength(terminalStatuses.length),
  v.description('Only these terminal statuses; empty: every one.'),
);
const description = v.pipe(v.string(), v.maxLength(500), v.description('A note for people.'));
const url = v.pipe(callbackUrlSchema, v.description('Where each matching terminal status event is POSTed.'));
const enabled = v.pipe(v.boolean(), v.description('A disabled webhook gets no deliveries.'));

/**
 * The body of POST /v1/webhooks: where to POST the tenant's terminal status events, which
 * ones (job `types` and `statuses`; empty or absent: all), and the signing `secret`
 * (generated when absent; returned only in this answer).
 */
export const createWebhookBody = v.strictObject({
  url,
  types: v.optional(types),
  statuses: v.optional(statuses),
  secret: v.optional(secret),
  description: v.optional(description),
  enabled: v.optional(enabled),
});
export type CreateWebhookBody = v.InferOutput<typeof createWebhookBody>;

/** The body of PATCH /v1/webhooks/:id; a new `secret` replaces the old one at once. */
export const updateWebhookBody = v.strictObject({
  url: v.optional(url),
  types: v.optional(types),
  statuses: v.optional(statuses),
  secret: v.optional(secret),
  description: v.optional(v.nullable(description)),
  enabled: v.optional(enabled),
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

/** `pending` (will try again), `delivered` (a 2xx) or `failed` (gave up). */
export const deliveryStatuses = ['pending', 'delivered', 'failed'] as const;
export type DeliveryStatus = (typeof deliveryStatuses)[number];

/** One delivery with every attempt, as the API shows it. */
export interface DeliveryView {
  id: string;
  webhookId: string | null;
  jobId: string;
  url: string;
  status: DeliveryStatus;
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  attemptLog: DeliveryAttempt[];
  event: StatusEvent;
  /** The delivery this one sends again; null for a first send. */
  redeliveryOf: string | null;
  createdAt: string;
  updatedAt: string;
  deliveredAt: string | null;
}
