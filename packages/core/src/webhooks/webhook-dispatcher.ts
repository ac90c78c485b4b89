import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import { and, eq } from 'drizzle-orm';
import type { Database } from '../db/connect.js';
import { type WebhookRow, webhooks } from '../db/schema.js';
import type { StatusEvent } from '../events/status-event.js';
import { REMOVE_ON_COMPLETE, REMOVE_ON_FAIL } from '../jobs/job-options.js';
import { DELIVERY_JOB_NAME, type DeliveryJobData, deliveryId } from './delivery-job.js';

type Subscription = Pick<WebhookRow, 'id' | 'url' | 'types' | 'statuses'>;

export interface WebhookDispatcherOptions {
  database: Database;
  /** The `callbacks` queue. */
  queue: Queue<DeliveryJobData>;
  /** How long a tenant's subscriptions are cached: a webhook change applies within this. @defaultValue 5000 */
  cacheTtlMs?: number;
  /** POSTs per delivery before it is given up. @defaultValue 8 */
  maxAttempts?: number;
  /** Wait before the first retry, doubled for each next one. @defaultValue 1000 */
  backoffMs?: number;
}

/** Turns a terminal status event into delivery jobs. */
export interface WebhookDispatcher {
  /**
   * Enqueues one delivery per enabled webhook of the event's tenant whose filters match,
   * plus one for the job's own `callbackUrl`, in one round trip; resolves with how many.
   * Never sends anything itself: the `callbacks` queue does, off the job's path.
   */
  dispatch(
    event: StatusEvent,
    job: { generation: number; callbackUrl?: string | undefined },
  ): Promise<number>;
  /**
   * Enqueues a new delivery (its own id, every attempt again) of a recorded delivery's event
   * to `url`; resolves with what the delivery job carries.
   */
  redeliver(
    delivery: Pick<DeliveryJobData, 'tenant' | 'jobId' | 'webhookId' | 'url' | 'event'>,
  ): Promise<DeliveryJobData>;
}

/**
 * @example
 * const callbacks = createWebhookDispatcher({ database, queue: new Queue(CALLBACKS_QUEUE, { connection, prefix }) });
 * await callbacks.dispatch(event, { generation: 0, callbackUrl: 'https://example.com/hook' });
 */
export function createWebhookDispatcher({
  database,
  queue,
  cacheTtlMs = 5_000,
  maxAttempts = 8,
  backoffMs = 1_000,
}: WebhookDispatcherOptions): WebhookDispatcher {
  // Tenants with no webhooks cost one query per cacheTtlMs, not one per job.
  const cache = new Map<string, { at: number; hooks: Promise<Subscription[]> }>();

  function subscriptions(tenant: string): Promise<Subscription[]> {
    const cached = cache.get(tenant);
    if (cached && Date.now() - cached.at < cacheTtlMs) return cached.hooks;
    // execute(): a Drizzle query is a lazy thenable that runs again on every await; the cache
    // must hold the one result.
    const hooks = database.db
      .select({ id: webhooks.id, url: webhooks.url, types: webhooks.types, statuses: webhooks.statuses })
      .from(webhooks)
      .where(and(eq(webhooks.tenant, tenant), eq(webhooks.enabled, true)))
      .execute();
    cache.set(tenant, { at: Date.now(), hooks });
    hooks.catch(() => cache.delete(tenant));
    return hooks;
  }

  const deliveryJob = (data: DeliveryJobData) => ({
    name: DELIVERY_JOB_NAME,
    data,
    opts: {
      jobId: data.deliveryId,
      attempts: maxAttempts,
      backoff: { type: 'exponential' as const, delay: backoffMs, jitter: 0.2 },
      removeOnComplete: REMOVE_ON_COMPLETE,
      removeOnFail: REMOVE_ON_FAIL,
    },
  });

  return {
    async redeliver({ tenant, jobId, webhookId, url, event }) {
      const data: DeliveryJobData = { deliveryId: randomUUID(), tenant, jobId, webhookId, url, event };
      const { name, opts } = deliveryJob(data);
      await queue.add(name, data, opts);
      return data;
    },
    async dispatch(event, { generation, callbackUrl }) {
      const targets: { key: string; webhookId: string | null; url: string }[] = (
        await subscriptions(event.tenant)
      )
        .filter(
          (hook) =>
            (hook.types.length === 0 || hook.types.includes(event.type)) &&
            (hook.statuses.length === 0 || (hook.statuses as string[]).includes(event.status)),
        )
        .map((hook) => ({ key: `webhook:${hook.id}`, webhookId: hook.id, url: hook.url }));
      if (callbackUrl) targets.push({ key: 'callback', webhookId: null, url: callbackUrl });
      if (targets.length === 0) return 0;
      await queue.addBulk(
        targets.map((target) =>
          deliveryJob({
            deliveryId: deliveryId(event.tenant, event.jobId, generation, target.key),
            tenant: event.tenant,
            jobId: event.jobId,
            webhookId: target.webhookId,
            url: target.url,
            event,
          }),
        ),
      );
      return targets.length;
    },
  };
}
