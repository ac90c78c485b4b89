import { createWebhookBody, updateWebhookBody } from '@conveyor/core/webhooks';
import type { Hono } from 'hono';
import * as v from 'valibot';
import type { ApiEnv } from '../api-env.js';
import { readJsonBody } from '../middleware/json-body.js';
import { webhookIdParam } from '../openapi/operation-spec.js';
import {
  createdWebhookSchema,
  deliveryPageSchema,
  deliveryViewSchema,
  signingSecretSchema,
  updatedWebhookSchema,
  webhookListSchema,
  webhookViewSchema,
} from '../openapi/response-schemas.js';
import { tenantOf } from '../tenant.js';
import {
  listDeliveriesQuery,
  type SigningSecretView,
  type WebhookService,
} from '../webhooks/webhook-service.js';
import { declareRoutes, type Operations } from './declare-routes.js';

// The signing-secret routes come before /v1/webhooks/:id, which would take "signing-secret" for an id.
export const webhookOperations = {
  getSigningSecret: {
    method: 'get',
    path: '/v1/webhooks/signing-secret',
    operationId: 'getSigningSecret',
    tag: 'Webhooks',
    summary: "The key that signs deliveries to jobs' own callbackUrl",
    description: 'Made on first use; one per tenant.',
    scope: 'admin',
    responses: { 200: { description: 'The signing secret.', schema: signingSecretSchema } },
  },
  rotateSigningSecret: {
    method: 'post',
    path: '/v1/webhooks/signing-secret/rotate',
    operationId: 'rotateSigningSecret',
    tag: 'Webhooks',
    summary: 'Replace the callbackUrl signing secret',
    description:
      'Every POST from now on, retries of pending deliveries included, is signed with the new secret.',
    scope: 'admin',
    responses: { 200: { description: 'The new signing secret.', schema: signingSecretSchema } },
  },
  createWebhook: {
    method: 'post',
    path: '/v1/webhooks',
    operationId: 'createWebhook',
    tag: 'Webhooks',
    summary: "Subscribe a URL to the tenant's terminal status events",
    description:
      'Each matching job end is POSTed, signed with the webhook\'s `secret` (`Conveyor-Signature: t=…,v1=<HMAC-SHA256 of "<t>.<body>">`), with retries and exponential backoff.',
    scope: 'admin',
    body: createWebhookBody,
    responses: {
      201: {
        description: 'Created; the answer holds its secret, the only time it is shown.',
        schema: createdWebhookSchema,
        headers: { Location: "The webhook's URL." },
      },
    },
  },
  listWebhooks: {
    method: 'get',
    path: '/v1/webhooks',
    operationId: 'listWebhooks',
    tag: 'Webhooks',
    summary: "The tenant's webhooks (never their secrets)",
    scope: 'admin',
    responses: {
      200: { description: 'Every webhook of the tenant, oldest first.', schema: webhookListSchema },
    },
  },
  getWebhook: {
    method: 'get',
    path: '/v1/webhooks/:id',
    operationId: 'getWebhook',
    tag: 'Webhooks',
    summary: 'Get a webhook (without its secret)',
    scope: 'admin',
    pathParams: webhookIdParam,
    responses: { 200: { description: 'The webhook.', schema: webhookViewSchema } },
    problems: [404],
  },
  updateWebhook: {
    method: 'patch',
    path: '/v1/webhooks/:id',
    operationId: 'updateWebhook',
    tag: 'Webhooks',
    summary: 'Change, enable or disable a webhook, or replace its secret',
    description: 'Absent fields keep their value. Disabling it ends its pending deliveries.',
    scope: 'admin',
    pathParams: webhookIdParam,
    body: updateWebhookBody,
    responses: {
      200: {
        description: 'The webhook as changed; with `secret` only when the body set one.',
        schema: updatedWebhookSchema,
      },
    },
    problems: [404],
  },
  deleteWebhook: {
    method: 'delete',
    path: '/v1/webhooks/:id',
    operationId: 'deleteWebhook',
    tag: 'Webhooks',
    summary: 'Delete a webhook',
    description: 'Its pending deliveries end (recorded `failed`); its delivery records stay.',
    scope: 'admin',
    pathParams: webhookIdParam,
    responses: { 204: { description: 'Deleted.' } },
    problems: [404],
  },
  listWebhookDeliveries: {
    method: 'get',
    path: '/v1/webhooks/:id/deliveries',
    operationId: 'listWebhookDeliveries',
    tag: 'Webhooks',
    summary: "A webhook's deliveries, newest first, with every attempt",
    scope: 'admin',
    pathParams: webhookIdParam,
    query: listDeliveriesQuery,
    responses: { 200: { description: 'One page.', schema: deliveryPageSchema } },
    problems: [404],
  },
  redeliverWebhookDelivery: {
    method: 'post',
    path: '/v1/webhooks/:id/deliveries/:deliveryId/redeliver',
    operationId: 'redeliverWebhookDelivery',
    tag: 'Webhooks',
    summary: "Sends a delivery's event again, as a new delivery",
    description:
      'The new delivery (its own id, `redeliveryOf` the original) POSTs the same status event to the ' +
      "webhook's current URL, with every attempt again. 409 while the webhook is disabled.",
    scope: 'admin',
    pathParams: {
      ...webhookIdParam,
      deliveryId: {
        description: 'The delivery to send again (a UUID).',
        schema: v.pipe(v.string(), v.uuid()),
      },
    },
    responses: { 202: { description: 'The new delivery, pending.', schema: deliveryViewSchema } },
    problems: [404, 409],
  },
} satisfies Operations;
/**
 * Admin routes: the tenant's webhook subscriptions, their deliveries (and redeliveries), and
 * the signing secret of jobs' own callbackUrl. Secrets appear only in the answer that sets them.
 */
export function webhookRoutes({ webhooks }: { webhooks: WebhookService }): Hono<ApiEnv> {
  const id = (c: { req: { param(name: string): string | undefined } }) => c.req.param('id') ?? '';
  return declareRoutes(webhookOperations, {
    getSigningSecret: async (c) =>
      c.json({ secret: await webhooks.signingSecret(tenantOf(c)) } satisfies SigningSecretView),
    rotateSigningSecret: async (c) =>
      c.json({ secret: await webhooks.rotateSigningSecret(tenantOf(c)) } satisfies SigningSecretView),
    createWebhook: async (c) => {
      const webhook = await webhooks.create(tenantOf(c), await readJsonBody(c));
      c.header('Location', webhook.links.self);
      return c.json(webhook, 201);
    },
    listWebhooks: async (c) => c.json({ items: await webhooks.list(tenantOf(c)) }),
    getWebhook: async (c) => c.json(await webhooks.get(tenantOf(c), id(c))),
    updateWebhook: async (c) => c.json(await webhooks.update(tenantOf(c), id(c), await readJsonBody(c))),
    deleteWebhook: async (c) => {
      await webhooks.remove(tenantOf(c), id(c));
      return c.body(null, 204);
    },
    listWebhookDeliveries: async (c) => c.json(await webhooks.deliveries(tenantOf(c), id(c), c.req.query())),
    redeliverWebhookDelivery: async (c) =>
      c.json(await webhooks.redeliver(tenantOf(c), id(c), c.req.param('deliveryId') ?? ''), 202),
  });
}
