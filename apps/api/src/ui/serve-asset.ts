import { readFile } from 'node:fs/promises';
import { ConveyorError } from '@conveyor/core/errors';
import type { Context } from 'hono';
import type { UiAsset } from './ui-assets.js';

/** Read once on first use, then answered from memory. */
function cached(asset: UiAsset): (c: Context) => Promise<Response> {
  let body: Promise<Buffer> | undefined;
  return async (c) => {
    body ??= readFile(asset.path);
    return c.body(new Uint8Array(await body), 200, {
      'Content-Type': asset.contentType,
      // Short: a new release's assets reach browsers within minutes, without versioned names.
      'Cache-Control': 'public, max-age=300',
    });
  };
}

/** Serves one fixed file, e.g. a page. */
export function serveAsset(asset: UiAsset): (c: Context) => Promise<Response> {
  return cached(asset);
}

/**
 * Serves the files of `assets` by the `:file` route parameter. Only names in `assets` are
 * answered (404 otherwise), so a request path never reaches the file system.
 *
 * @example
 * app.get('/docs/assets/:file', serveAssets(docsAssets));
 */
export function serveAssets(assets: Record<string, UiAsset>): (c: Context) => Promise<Response> {
  const handlers = new Map(Object.entries(assets).map(([name, asset]) => [name, cached(asset)]));
  return (c) => {
    const name = c.req.param('file') ?? '';
    const handler = handlers.get(name);
    if (!handler) throw new ConveyorError('NOT_FOUND', `no asset named ${name}`);
    return handler(c);
  };
}
