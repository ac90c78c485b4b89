import { Hono } from 'hono';
import type { ApiEnv } from '../api-env.js';
import { serveAsset, serveAssets } from '../ui/serve-asset.js';
import { dashboardAssets, dashboardPage } from '../ui/ui-assets.js';

/**
 * The queue dashboard at /dashboard: a static page and its script, public. Everything it
 * shows it reads from /v1 with the API key the user gives it.
 */
export function dashboardRoutes(): Hono<ApiEnv> {
  return new Hono<ApiEnv>()
    .get('/dashboard', serveAsset(dashboardPage))
    .get('/dashboard/assets/:file', serveAssets(dashboardAssets));
}
