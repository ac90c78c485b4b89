import { Hono } from 'hono';
import type { ApiEnv } from '../api-env.js';
import { readJsonBody } from '../middleware/json-body.js';
import { tenantOf } from '../tenant.js';
import type { SigningSecretView, WebhookService } from '../webhooks/webhook-service.js';

/**
 * Admin routes: the tenant's webhook subscriptions, their deliveries, and the signing
 * secret of jobs' own callbackUrl. Secrets appear only in the answer that sets them.
 */
export function webhookRoutes({ webhooks }: { webhooks: WebhookService }): Hono<ApiEnv> {
  return (
    new Hono<ApiEnv>()
      // Before /webhooks/:id, which would otherwise take "signing-secret" for an id.
      .get('/webhooks/signing-secret', async (c) =>
        c.json({ secret: await webhooks.signingSecret(tenantOf(c)) } satisfies SigningSecretView),
      )
      .post('/webhooks/signing-secret/rotate', async (c) =>
        c.json({ secret: await webhooks.rotateSigningSecret(tenantOf(c)) } satisfies SigningSecretView),
      )
      .post('/webhooks', async (c) => {
        const webhook = await webhooks.create(tenantOf(c), await readJsonBody(c));
        c.header('Location', webhook.links.self);
        return c.json(webhook, 201);
      })
      .get('/webhooks', async (c) => c.json({ items: await webhooks.list(tenantOf(c)) }))
      .get('/webhooks/:id', async (c) => c.json(await webhooks.get(tenantOf(c), c.req.param('id'))))
      .patch('/webhooks/:id', async (c) =>
        c.json(await webhooks.update(tenantOf(c), c.req.param('id'), await readJsonBody(c))),
      )
      .delete('/webhooks/:id', async (c) => {
        await webhooks.remove(tenantOf(c), c.req.param('id'));
        return c.body(null, 204);
      })
      .get('/webhooks/:id/deliveries', async (c) =>
        c.json(await webhooks.deliveries(tenantOf(c), c.req.param('id'), c.req.query())),
      )
      .post('/webhooks/:id/deliveries/:deliveryId/redeliver', async (c) =>
        c.json(await webhooks.redeliver(tenantOf(c), c.req.param('id'), c.req.param('deliveryId')), 202),
      )
  );
}
