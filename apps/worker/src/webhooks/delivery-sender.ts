import { type Database, type DeliveryAttempt, webhookDeliveries, webhooks } from '@conveyor/core/db';
import { isConveyorError } from '@conveyor/core/errors';
import type { Logger } from '@conveyor/core/log';
import type { AddressGuard } from '@conveyor/core/net';
import {
  ATTEMPT_HEADER,
  DELIVERY_ID_HEADER,
  type DeliveryJobData,
  SIGNATURE_HEADER,
  signatureHeader,
  tenantSigningSecret,
} from '@conveyor/core/webhooks';
import { type Job, UnrecoverableError } from 'bullmq';
import { and, eq, sql } from 'drizzle-orm';
import type { WorkerMetrics } from '../metrics.js';
import { guardedRequest } from '../net/guarded-request.js';

export interface DeliverySenderDeps {
  database: Database;
  /** The SSRF guard of http.request: private targets only when HTTP_ALLOWLIST allows them. */
  guard: AddressGuard;
  logger: Logger;
  /** How long one POST may take before it counts as failed. @defaultValue 10000 */
  timeoutMs?: number;
  metrics?: WorkerMetrics | undefined;
}

/** What one POST came to. */
interface AttemptResult {
  statusCode?: number;
  error?: string;
  /** The target may never be reached (a forbidden address): retrying cannot help. */
  hopeless: boolean;
}

/**
 * The processor of the `callbacks` queue: POSTs one status event, signed, to one target.
 * Every attempt is recorded in `webhook_deliveries` before the job is acknowledged; a
 * network error, a timeout or a non-2xx answer is retried with the job's backoff until
 * its attempts are used up, then the delivery is `failed` (given up).
 */
export function createDeliverySender({
  database,
  guard,
  logger,
  timeoutMs = 10_000,
  metrics,
}: DeliverySenderDeps) {
  /** The key that signs this delivery; undefined when its webhook is gone or disabled. */
  async function secretOf(data: DeliveryJobData): Promise<string | undefined> {
    if (data.webhookId === null) return tenantSigningSecret(database.db, data.tenant);
    const [hook] = await database.db
      .select({ secret: webhooks.secret, enabled: webhooks.enabled })
      .from(webhooks)
      .where(and(eq(webhooks.id, data.webhookId), eq(webhooks.tenant, data.tenant)));
    return hook?.enabled ? hook.secret : undefined;
  }

  async function post(data: DeliveryJobData, secret: string, attempt: number): Promise<AttemptResult> {
    const body = JSON.stringify(data.event);
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const response = await guardedRequest(guard, {
        method: 'POST',
        url: data.url,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Conveyor-Webhooks/1',
          [SIGNATURE_HEADER]: signatureHeader(secret, body, Math.floor(Date.now() / 1_000)),
          [DELIVERY_ID_HEADER]: data.deliveryId,
          [ATTEMPT_HEADER]: String(attempt),
        },
        body,
        signal,
        // A receiver's redirect is an answer, not an instruction: it counts as a failure.
        maxRedirects: 0,
        maxBodyBytes: 1_024,
      });
      const ok = response.status >= 200 && response.status < 300;
      return ok
        ? { statusCode: response.status, hopeless: false }
        : { statusCode: response.status, error: `answered ${response.status}`, hopeless: false };
    } catch (error) {
      if (signal.aborted) return { error: `no answer within ${timeoutMs} ms`, hopeless: false };
      const message = error instanceof Error ? error.message : String(error);
      return { error: message, hopeless: isConveyorError(error, 'TARGET_FORBIDDEN') };
    }
  }

  async function record(
    data: DeliveryJobData,
    entry: DeliveryAttempt,
    status: 'pending' | 'delivered' | 'failed',
  ): Promise<void> {
    const now = new Date();
    const deliveredAt = status === 'delivered' ? now : null;
    await database.db
      .insert(webhookDeliveries)
      .values({
        id: data.deliveryId,
        tenant: data.tenant,
        webhookId: data.webhookId,
        jobId: data.jobId,
        url: data.url,
        event: data.event,
        status,
        attempts: entry.attempt,
        lastStatusCode: entry.statusCode ?? null,
        lastError: entry.error ?? null,
        attemptLog: [entry],
        deliveredAt,
      })
      .onConflictDoUpdate({
        target: webhookDeliveries.id,
        set: {
          // Once delivered, a late duplicate attempt does not undo it.
          status: sql`case when ${webhookDeliveries.status} = 'delivered' then 'delivered' else ${status}::text end`,
          attempts: sql`greatest(${webhookDeliveries.attempts}, ${entry.attempt})`,
          lastStatusCode: entry.statusCode ?? null,
          lastError: entry.error ?? null,
          attemptLog: sql`${webhookDeliveries.attemptLog} || ${JSON.stringify([entry])}::jsonb`,
          updatedAt: now,
          deliveredAt: sql`coalesce(${webhookDeliveries.deliveredAt}, ${deliveredAt?.toISOString() ?? null}::timestamptz)`,
        },
      });
  }

  /** The status of a delivery already recorded under this id, if any. */
  async function recordedStatus(deliveryId: string): Promise<string | undefined> {
    const [row] = await database.db
      .select({ status: webhookDeliveries.status })
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.id, deliveryId));
    return row?.status;
  }

  return async function deliver(job: Job<DeliveryJobData>): Promise<unknown> {
    const { data } = job;
    const attempt = job.attemptsMade + 1;
    const maxAttempts = job.opts.attempts ?? 1;
    const log = logger.child({ deliveryId: data.deliveryId, jobId: data.jobId, attempt });
    // Delivery ids come from (job, generation, target), so BullMQ drops a second enqueue, but
    // only while the first is still in Redis. A re-run of the job after that (a crash between
    // its row and its acknowledgement) enqueues it again: the recorded delivery settles it.
    if (attempt === 1) {
      const done = await recordedStatus(data.deliveryId);
      if (done === 'delivered' || done === 'failed') {
        log.info({ status: done }, 'delivery already settled; not sending it again');
        return { duplicateOf: done };
      }
    }
    const at = new Date();
    const secret = await secretOf(data);
    const result: AttemptResult =
      secret === undefined
        ? { error: 'the webhook was deleted or disabled', hopeless: true }
        : await post(data, secret, attempt);
    const entry: DeliveryAttempt = {
      attempt,
      at: at.toISOString(),
      durationMs: Date.now() - at.getTime(),
      ...(result.statusCode === undefined ? {} : { statusCode: result.statusCode }),
      ...(result.error === undefined ? {} : { error: result.error }),
    };
    const delivered = result.error === undefined;
    const gaveUp = !delivered && (result.hopeless || attempt >= maxAttempts);
    const status = delivered ? 'delivered' : gaveUp ? 'failed' : 'pending';
    await record(data, entry, status);
    metrics?.deliveryAttempts.inc({ outcome: delivered ? 'delivered' : gaveUp ? 'failed' : 'retrying' });
    if (delivered) return { statusCode: result.statusCode };
    if (gaveUp) {
      log.warn({ url: data.url, error: result.error }, 'webhook delivery failed; giving up');
      throw new UnrecoverableError(result.error);
    }
    log.info({ url: data.url, error: result.error }, 'webhook delivery attempt failed; will retry');
    throw new Error(result.error);
  };
}
