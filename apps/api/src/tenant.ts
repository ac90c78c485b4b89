import { ConveyorError } from '@conveyor/core/errors';
import type { Context } from 'hono';
import type { ApiEnv } from './api-env.js';

/** The tenant of a request: the one its API key or token belongs to. */
export function tenantOf(c: Context<ApiEnv>): string {
  const principal = c.get('principal');
  if (!principal) throw new ConveyorError('UNAUTHENTICATED', 'send an API key: Authorization: Bearer <key>');
  return principal.tenant;
}
