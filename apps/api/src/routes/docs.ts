import type { JobRegistry } from '@conveyor/core/jobs';
import { Hono } from 'hono';
import type { ApiEnv } from '../api-env.js';
import { createOpenApiDocument, type OpenApiDocument } from '../openapi/openapi-document.js';
import { serveAsset, serveAssets } from '../ui/serve-asset.js';
import { docsAssets, docsPage } from '../ui/ui-assets.js';

/** GET /openapi.json (generated from the valibot schemas) and the API reference at /docs. Public. */
export function docsRoutes({ registry }: { registry: JobRegistry }): Hono<ApiEnv> {
  // Generated on first request: the registry does not change while the process runs.
  let document: OpenApiDocument | undefined;
  return new Hono<ApiEnv>()
    .get('/openapi.json', (c) => {
      document ??= createOpenApiDocument({ registry });
      return c.json(document);
    })
    .get('/docs', serveAsset(docsPage))
    .get('/docs/assets/:file', serveAssets(docsAssets));
}
