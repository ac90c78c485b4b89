import { type Handler, Hono, type MiddlewareHandler } from 'hono';
import type { ApiEnv } from '../api-env.js';
import { requireScope } from '../auth/authenticate.js';
import type { OperationSpec } from '../openapi/operation-spec.js';

/** A route's handler (a middleware that answers, such as a WebSocket upgrade, counts as one). */
export type RouteHandler = Handler<ApiEnv> | MiddlewareHandler<ApiEnv>;

/**
 * A route file's routes, made from its declarations: each declared operation (method, path,
 * scope, schemas, its OpenAPI words) gets exactly one handler (the types say so), and its
 * scope is enforced from the same declaration. The OpenAPI document is made from the same
 * declarations (openapi/operations.ts gathers them), so a route, its scope and its
 * documentation cannot drift apart.
 *
 * @example
 * export const keyOperations = { listKeys: { method: 'get', path: '/v1/keys', scope: 'admin', … } } satisfies Operations;
 * export const keyRoutes = ({ keys }) => declareRoutes(keyOperations, { listKeys: async (c) => c.json(…) });
 */
export function declareRoutes<K extends string>(
  specs: Record<K, OperationSpec>,
  handlers: Record<K, RouteHandler>,
): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  for (const name of Object.keys(specs) as K[]) {
    const spec = specs[name];
    if (spec.operationId !== name) throw new Error(`route ${name} is declared as ${spec.operationId}`);
    const handler = handlers[name] as Handler<ApiEnv>;
    if (spec.scope) app.on(spec.method.toUpperCase(), spec.path, requireScope(spec.scope), handler);
    else app.on(spec.method.toUpperCase(), spec.path, handler);
  }
  return app;
}

/** A route file's declarations, keyed by operationId. */
export type Operations = Record<string, OperationSpec>;
