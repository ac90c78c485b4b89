import { randomUUID } from 'node:crypto';
import {
  type Database,
  type WebhookDeliveryRow,
  type WebhookRow,
  webhookDeliveries,
  webhooks,
} from '@conveyor/core/db';
import { ConveyorError, parseOrThrow } from '@conveyor/core/errors';
import type { StatusEvent } from '@conveyor/core/events';
import type { AddressGuard } from '@conveyor/core/net';
import {
  createWebhookBody,
  type DeliveryView,
  deliveryStatuses,
  generateSecret,
  rotateTenantSigningSecret,
  tenantSigningSecret,
  updateWebhookBody,
  type WebhookDispatcher,
  type WebhookView,
} from '@conveyor/core/webhooks';
import { and, desc, eq, inArray, lt, or, type SQL } from 'drizzle-orm';
import * as v from 'valibot';
import type { JobTypeRegistry } from '../job-types/job-type-registry.js';
import { orUnavailable } from '../jobs/unavailable.js';
import { decodeKeysetCursor, keysetPage } from '../keyset-cursor.js';
import { cursorParam, limitParam, type Page } from '../pagination.js';
import { resourceId } from '../resource-id.js';
import { assertDeliveryTarget } from './delivery-target.js';

/** Query of GET /v1/webhooks/:id/deliveries: newest first, keyset pagination. */
export const listDeliveriesQuery = v.strictObject({
  status: v.optional(
    v.pipe(
      v.string(),
      v.transform((s) => s.split(',').map((p) => p.trim())),
      v.check(
        (parts) => parts.every((p) => (deliveryStatuses as readonly string[]).includes(p)),
        `must be one or more of ${deliveryStatuses.join(', ')}, comma-separated`,
      ),
      v.transform((parts) => parts as DeliveryView['status'][]),
      v.description(`One or more of ${deliveryStatuses.join(', ')}, comma-separated.`),
    ),
  ),
  limit: limitParam('Deliveries', 200),
  cursor: cursorParam(200),
});

/** One page of GET /v1/webhooks/:id/deliveries. */
export type DeliveryPage = Page<DeliveryView>;

/** The body of GET /v1/webhooks/signing-secret and of its rotation. */
export interface SigningSecretView {
  /** Signs deliveries to jobs' own callbackUrl. */
  secret: string;
}

export interface WebhookService {
  create(tenant: string, body: unknown): Promise<WebhookView>;
  list(tenant: string): Promise<WebhookView[]>;
  get(tenant: string, id: string): Promise<WebhookView>;
  update(tenant: string, id: string, body: unknown): Promise<WebhookView>;
  remove(tenant: string, id: string): Promise<void>;
  /** A webhook's deliveries, newest first. */
  deliveries(tenant: string, webhookId: string, query: Record<string, string>): Promise<DeliveryPage>;
  /**
   * Sends a recorded delivery's event again, as a new delivery to the webhook's current URL
   * (every attempt again); resolves with the new delivery, `pending`.
   */
  redeliver(tenant: string, webhookId: string, deliveryId: string): Promise<DeliveryView>;
  /** Every delivery of one job (its webhooks' and its own callbackUrl's), oldest first. */
  jobDeliveries(tenant: string, jobId: string): Promise<DeliveryView[]>;
  /** The key that signs deliveries to jobs' own callbackUrl (made on first use). */
  signingSecret(tenant: string): Promise<string>;
  rotateSigningSecret(tenant: string): Promise<string>;
}

function webhookView(row: WebhookRow, secret?: string): WebhookView {
  return {
    id: row.id,
    url: row.url,
    types: row.types,
    statuses: row.statuses,
    description: row.description,
    enabled: row.enabled,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    links: { self: `/v1/webhooks/${row.id}`, deliveries: `/v1/webhooks/${row.id}/deliveries` },
    ...(secret === undefined ? {} : { secret }),
  };
}

function deliveryView(row: WebhookDeliveryRow): DeliveryView {
  return {
    id: row.id,
    webhookId: row.webhookId,
    jobId: row.jobId,
    url: row.url,
    status: row.status,
    attempts: row.attempts,
    lastStatusCode: row.lastStatusCode,
    lastError: row.lastError,
    attemptLog: row.attemptLog,
    event: row.event as StatusEvent,
    redeliveryOf: row.redeliveryOf,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    deliveredAt: row.deliveredAt?.toISOString() ?? null,
  };
}

/**
 * A tenant's webhook subscriptions and their delivery records. Secrets are stored (they
 * must be, to sign) but shown only in the answer that sets them.
 */
export function createWebhookService({
  database,
  registry,
  guard,
  dispatcher,
}: {
  database: Database;
  registry: JobTypeRegistry;
  /** The workers' outbound guard: a URL it always refuses is a 400. */
  guard: AddressGuard;
  /** Enqueues redeliveries on the `callbacks` queue. */
  dispatcher: WebhookDispatcher;
}): WebhookService {
  const { db } = database;

  function notFound(id: string): ConveyorError {
    return new ConveyorError('WEBHOOK_NOT_FOUND', `no webhook with id ${id}`);
  }

  function checkTypes(types: string[] | undefined): void {
    const unknown = (types ?? []).filter((t) => !registry.get(t));
    if (unknown.length === 0) return;
    const known = registry.names().join(', ');
    throw new ConveyorError('VALIDATION_FAILED', `invalid webhook: unknown job types ${unknown.join(', ')}`, {
      issues: [{ path: 'types', message: `unknown job types ${unknown.join(', ')}; known types: ${known}` }],
    });
  }

  async function readRow(tenant: string, id: string): Promise<WebhookRow> {
    id = resourceId('webhook', id);
    const row = await orUnavailable('Postgres', () =>
      db.query.webhooks.findFirst({ where: and(eq(webhooks.id, id), eq(webhooks.tenant, tenant)) }),
    );
    if (!row) throw notFound(id);
    return row;
  }

  return {
    async create(tenant, raw) {
      const body = parseOrThrow(createWebhookBody, raw);
      checkTypes(body.types);
      assertDeliveryTarget(guard, body.url, 'url', 'webhook');
      const secret = body.secret ?? generateSecret();
      const [row] = await orUnavailable('Postgres', () =>
        db
          .insert(webhooks)
          .values({
            id: randomUUID(),
            tenant,
            url: body.url,
            secret,
            types: body.types ?? [],
            statuses: body.statuses ?? [],
            description: body.description ?? null,
            enabled: body.enabled ?? true,
          })
          .returning(),
      );
      if (!row) throw new ConveyorError('INTERNAL', 'webhook not stored');
      return webhookView(row, secret);
    },

    async list(tenant) {
      const rows = await orUnavailable('Postgres', () =>
        db.select().from(webhooks).where(eq(webhooks.tenant, tenant)).orderBy(webhooks.createdAt),
      );
      return rows.map((row) => webhookView(row));
    },

    async get(tenant, id) {
      return webhookView(await readRow(tenant, id));
    },

    async update(tenant, id, raw) {
      const body = parseOrThrow(updateWebhookBody, raw);
      checkTypes(body.types);
      assertDeliveryTarget(guard, body.url, 'url', 'webhook');
      id = resourceId('webhook', id);
      // No read first: UPDATE … RETURNING gives no row when there is none (or not the tenant's).
      const [row] = await orUnavailable('Postgres', () =>
        db
          .update(webhooks)
          .set({ ...body, updatedAt: new Date() })
          .where(and(eq(webhooks.id, id), eq(webhooks.tenant, tenant)))
          .returning(),
      );
      if (!row) throw notFound(id);
      return webhookView(row, body.secret);
    },

    async remove(tenant, id) {
      id = resourceId('webhook', id);
      const deleted = await orUnavailable('Postgres', () =>
        db
          .delete(webhooks)
          .where(and(eq(webhooks.id, id), eq(webhooks.tenant, tenant)))
          .returning({ id: webhooks.id }),
      );
      if (deleted.length === 0) throw notFound(id);
    },

    async deliveries(tenant, webhookId, rawQuery) {
      const query = parseOrThrow(listDeliveriesQuery, rawQuery);
      await readRow(tenant, webhookId);
      const filters: (SQL | undefined)[] = [
        eq(webhookDeliveries.tenant, tenant),
        eq(webhookDeliveries.webhookId, webhookId),
        query.status ? inArray(webhookDeliveries.status, query.status) : undefined,
      ];
      if (query.cursor) {
        const { t, i } = decodeKeysetCursor(query.cursor);
        filters.push(
          or(
            lt(webhookDeliveries.createdAt, t),
            and(eq(webhookDeliveries.createdAt, t), lt(webhookDeliveries.id, i)),
          ),
        );
      }
      const rows = await orUnavailable('Postgres', () =>
        db
          .select()
          .from(webhookDeliveries)
          .where(and(...filters))
          .orderBy(desc(webhookDeliveries.createdAt), desc(webhookDeliveries.id))
          .limit(query.limit + 1),
      );
      const page = keysetPage(rows, query.limit);
      return { items: page.rows.map(deliveryView), nextCursor: page.nextCursor };
    },

    async redeliver(tenant, webhookId, rawDeliveryId) {
      const hook = await readRow(tenant, webhookId);
      const id = resourceId('delivery', rawDeliveryId, 'deliveryId');
      const [original] = await orUnavailable('Postgres', () =>
        db
          .select()
          .from(webhookDeliveries)
          .where(
            and(
              eq(webhookDeliveries.id, id),
              eq(webhookDeliveries.tenant, tenant),
              eq(webhookDeliveries.webhookId, hook.id),
            ),
          ),
      );
      if (!original) {
        throw new ConveyorError('DELIVERY_NOT_FOUND', `no delivery with id ${id} for webhook ${hook.id}`);
      }
      if (!hook.enabled) {
        throw new ConveyorError(
          'CONFLICT',
          `webhook ${hook.id} is disabled: enable it (PATCH {"enabled":true}) before redelivering`,
        );
      }
      // Enqueued first: if Redis refuses, nothing is written. The row is then recorded at once
      // (the sender may already have), so the redelivery is listed while it waits its turn.
      const data = await orUnavailable('Redis', () =>
        dispatcher.redeliver({
          tenant,
          jobId: original.jobId,
          webhookId: hook.id,
          url: hook.url,
          event: original.event as StatusEvent,
        }),
      );
      const [row] = await orUnavailable('Postgres', () =>
        db
          .insert(webhookDeliveries)
          .values({
            id: data.deliveryId,
            tenant,
            webhookId: hook.id,
            jobId: data.jobId,
            url: data.url,
            event: data.event,
            status: 'pending',
            redeliveryOf: original.id,
          })
          .onConflictDoUpdate({ target: webhookDeliveries.id, set: { redeliveryOf: original.id } })
          .returning(),
      );
      if (!row) throw new Error(`delivery ${data.deliveryId} was not recorded`);
      return deliveryView(row);
    },

    async jobDeliveries(tenant, jobId) {
      const rows = await orUnavailable('Postgres', () =>
        db
          .select()
          .from(webhookDeliveries)
          .where(and(eq(webhookDeliveries.tenant, tenant), eq(webhookDeliveries.jobId, jobId)))
          .orderBy(webhookDeliveries.createdAt),
      );
      return rows.map(deliveryView);
    },

    signingSecret: (tenant) => orUnavailable('Postgres', () => tenantSigningSecret(db, tenant)),
    rotateSigningSecret: (tenant) => orUnavailable('Postgres', () => rotateTenantSigningSecret(db, tenant)),
  };
}
