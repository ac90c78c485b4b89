import type { Hono } from 'hono';
import * as v from 'valibot';
import type { ApiEnv } from '../api-env.js';
import { contentTypes } from '../openapi/operation-spec.js';
import { serveAsset, serveAssets } from '../ui/serve-asset.js';
import { dashboardAssetNames, dashboardAssets, dashboardPage } from '../ui/ui-assets.js';
import { declareRoutes, type Operations } from './declare-routes.js';

export const dashboardOperations = {
  dashboard: {
    method: 'get',
    path: '/dashboard',
    operationId: 'dashboard',
    tag: 'Operations',
    summary: 'Live queue dashboard (its data comes from /v1 with your API key)',
    responses: { 200: { description: 'HTML page.', mediaType: 'text/html', schema: v.string() } },
  },
  dashboardAsset: {
    method: 'get',
    path: '/dashboard/assets/:file',
    operationId: 'dashboardAsset',
    tag: 'Operations',
    summary: 'A script or stylesheet of the dashboard',
    pathParams: { file: { description: 'Asset name.', schema: v.picklist(dashboardAssetNames) } },
    responses: {
      200: { description: 'The file.', mediaType: contentTypes(dashboardAssets), schema: v.string() },
    },
    problems: [404],
  },
} satisfies Operations;

/**
 * The queue dashboard at /dashboard: a static page and its script, public. Everything it
 * shows it reads from /v1 with the API key the user gives it.
 */
export function dashboardRoutes(): Hono<ApiEnv> {
  return declareRoutes(dashboardOperations, {
    dashboard: serveAsset(dashboardPage),
    dashboardAsset: serveAssets(dashboardAssets),
  });
}
