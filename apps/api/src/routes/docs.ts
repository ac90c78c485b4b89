import type { Hono } from 'hono';
import * as v from 'valibot';
import type { ApiEnv } from '../api-env.js';
import type { JobTypeRegistry } from '../job-types/job-type-registry.js';
import { createOpenApiDocument, type OpenApiDocument } from '../openapi/openapi-document.js';
import { contentTypes, type OperationSpec } from '../openapi/operation-spec.js';
import { serveAsset, serveAssets } from '../ui/serve-asset.js';
import { docsAssetNames, docsAssets, docsPage } from '../ui/ui-assets.js';
import { declareRoutes, type Operations } from './declare-routes.js';

export const docsOperations = {
  openApiDocument: {
    method: 'get',
    path: '/openapi.json',
    operationId: 'openApiDocument',
    tag: 'Operations',
    summary: 'This OpenAPI 3.1 document',
    responses: {
      200: { description: 'The document.', schema: v.record(v.string(), v.unknown()) },
    },
  },
  docs: {
    method: 'get',
    path: '/docs',
    operationId: 'docs',
    tag: 'Operations',
    summary: 'API reference (Swagger UI, served by the API itself)',
    responses: { 200: { description: 'HTML page.', mediaType: 'text/html', schema: v.string() } },
  },
  docsAsset: {
    method: 'get',
    path: '/docs/assets/:file',
    operationId: 'docsAsset',
    tag: 'Operations',
    summary: 'A script or stylesheet of the API reference',
    pathParams: { file: { description: 'Asset name.', schema: v.picklist(docsAssetNames) } },
    responses: {
      200: { description: 'The file.', mediaType: contentTypes(docsAssets), schema: v.string() },
    },
    problems: [404],
  },
} satisfies Operations;

/**
 * GET /openapi.json (generated from every route's declaration, `operations`) and the API
 * reference at /docs. Public.
 */
export function docsRoutes({
  registry,
  operations,
}: {
  registry: JobTypeRegistry;
  operations: readonly OperationSpec[];
}): Hono<ApiEnv> {
  // Generated again only when the registered types changed (a new type or version).
  let cached: { key: string; document: OpenApiDocument } | undefined;
  return declareRoutes(docsOperations, {
    openApiDocument: (c) => {
      const key = registry
        .definitions()
        .map((t) => `${t.name}@${t.version}`)
        .join(',');
      if (cached?.key !== key) cached = { key, document: createOpenApiDocument({ registry, operations }) };
      return c.json(cached.document);
    },
    docs: serveAsset(docsPage),
    docsAsset: serveAssets(docsAssets),
  });
}
