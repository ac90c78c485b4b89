import { Hono } from 'hono';
import type { ApiEnv } from '../api-env.js';
import type { JobTypeRegistry } from '../job-types/job-type-registry.js';
import { createOpenApiDocument, type OpenApiDocument } from '../openapi/openapi-document.js';
import { serveAsset, serveAssets } from '../ui/serve-asset.js';
import { docsAssets, docsPage } from '../ui/ui-assets.js';

/** GET /openapi.json (generated from the valibot schemas) and the API reference at /docs. Public. */
export function docsRoutes({ registry }: { registry: JobTypeRegistry }): Hono<ApiEnv> {
  // Generated again only when the registered types changed (a new type or version).
  let cached: { key: string; document: OpenApiDocument } | undefined;
  return new Hono<ApiEnv>()
    .get('/openapi.json', (c) => {
      const key = registry
        .definitions()
        .map((t) => `${t.name}@${t.version}`)
        .join(',');
      if (cached?.key !== key) cached = { key, document: createOpenApiDocument({ registry }) };
      return c.json(cached.document);
    })
    .get('/docs', serveAsset(docsPage))
    .get('/docs/assets/:file', serveAssets(docsAssets));
}
