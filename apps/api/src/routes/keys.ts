import { ConveyorError, parseOrThrow } from '@conveyor/core/errors';
import type { Hono } from 'hono';
import * as v from 'valibot';
import type { ApiEnv } from '../api-env.js';
import { type ApiKeyStore, keyName } from '../auth/api-keys.js';
import { hasScope, scopes } from '../auth/principal.js';
import { readJsonBody } from '../middleware/json-body.js';
import { createdKeySchema, keyListSchema } from '../openapi/response-schemas.js';
import { resourceId } from '../resource-id.js';
import { tenantOf } from '../tenant.js';
import { declareRoutes, type Operations } from './declare-routes.js';

/** The body of POST /v1/keys. */
export const createKeyBody = v.strictObject({
  name: keyName,
  scopes: v.pipe(
    v.array(v.picklist(scopes, `each scope must be one of ${scopes.join(', ')}`)),
    v.minLength(1),
  ),
  expiresAt: v.optional(v.pipe(v.string(), v.isoTimestamp('must be an ISO 8601 timestamp with a time zone'))),
});

export const keyOperations = {
  createKey: {
    method: 'post',
    path: '/v1/keys',
    operationId: 'createKey',
    tag: 'Keys',
    summary: "Create an API key for the caller's tenant",
    description:
      'Only a caller that holds `operator` itself may grant `operator` (403 otherwise); `admin` may grant the tenant scopes.',
    scope: 'admin',
    body: createKeyBody,
    responses: { 201: { description: 'The key, shown this once.', schema: createdKeySchema } },
  },
  listKeys: {
    method: 'get',
    path: '/v1/keys',
    operationId: 'listKeys',
    tag: 'Keys',
    summary: "The tenant's API keys (never their secrets)",
    scope: 'admin',
    responses: { 200: { description: 'Every key of the tenant.', schema: keyListSchema } },
  },
  revokeKey: {
    method: 'delete',
    path: '/v1/keys/:id',
    operationId: 'revokeKey',
    tag: 'Keys',
    summary: 'Revoke an API key',
    description: 'Every API replica stops accepting it within AUTH_CACHE_TTL_MS.',
    scope: 'admin',
    pathParams: { id: { description: 'The key id (a UUID).', schema: v.pipe(v.string(), v.uuid()) } },
    responses: { 204: { description: 'Revoked.' } },
    problems: [404],
  },
} satisfies Operations;

/**
 * Admin routes: create (the key is shown once), list and revoke the API keys of the caller's
 * tenant. Granting `operator` needs `operator`.
 */
export function keyRoutes({ keys }: { keys: ApiKeyStore }): Hono<ApiEnv> {
  return declareRoutes(keyOperations, {
    createKey: async (c) => {
      const body = parseOrThrow(createKeyBody, await readJsonBody(c));
      const expiresAt = body.expiresAt === undefined ? undefined : new Date(body.expiresAt);
      if (expiresAt && expiresAt.getTime() <= Date.now()) {
        throw new ConveyorError('VALIDATION_FAILED', 'invalid input: expiresAt is in the past', {
          issues: [{ path: 'expiresAt', message: 'is in the past' }],
        });
      }
      const principal = c.get('principal');
      if (body.scopes.includes('operator') && !(principal && hasScope(principal, 'operator'))) {
        // Operator power spans every tenant: a tenant's admin cannot mint it for itself.
        throw new ConveyorError('FORBIDDEN', 'only a key with the operator scope may grant operator', {
          details: { requiredScope: 'operator' },
        });
      }
      const created = await keys.create({
        tenant: tenantOf(c),
        name: body.name,
        scopes: body.scopes,
        expiresAt,
      });
      return c.json(created, 201);
    },
    listKeys: async (c) => c.json({ items: await keys.list(tenantOf(c)) }),
    revokeKey: async (c) => {
      const id = resourceId('API key', c.req.param('id'));
      if (!(await keys.revoke(tenantOf(c), id))) {
        throw new ConveyorError('API_KEY_NOT_FOUND', `no API key with id ${id}`);
      }
      return c.body(null, 204);
    },
  });
}
