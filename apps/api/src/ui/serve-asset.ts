import { readFile } from 'node:fs/promises';
import { ConveyorError } from '@conveyor/core/errors';
import type { Context } from 'hono';
import { checkUiAssets, type UiAsset } from './ui-assets.js';

function answer(c: Context, asset: UiAsset, body: Buffer): Response {
  return c.body(new Uint8Array(body), 200, {
    'Content-Type': asset.contentType,
    // Short: a new release's assets reach browsers within minutes, without versioned names.
    'Cache-Control': 'public, max-age=300',
  });
}

/**
 * Serves one fixed file, e.g. a page: read on first use, then answered from memory. A read
 * that fails is not kept, so the next request tries again. Throws at once, naming the file,
 * when it is missing.
 */
export function serveAsset(asset: UiAsset): (c: Context) => Promise<Response> {
  checkUiAssets([asset]);
  let body: Promise<Buffer> | undefined;
  return async (c) => {
    body ??= readFile(asset.path).catch((error: unknown) => {
      body = undefined;
      throw error;
    });
    return answer(c, asset, await body);
  };
}

/**
 * Serves the files of `assets` by the `:file` route parameter. Only names in `assets` are
 * answered (404 otherwise), so a request path never reaches the file system. Throws at once,
 * naming every missing file.
 *
 * @example
 * app.get('/docs/assets/:file', serveAssets(docsAssets));
 */
export function serveAssets(assets: Record<string, UiAsset>): (c: Context) => Promise<Response> {
  checkUiAssets(Object.values(assets));
  const handlers = new Map(Object.entries(assets).map(([name, asset]) => [name, serveAsset(asset)]));
  return (c) => {
    const name = c.req.param('file') ?? '';
    const handler = handlers.get(name);
    if (!handler) throw new ConveyorError('NOT_FOUND', `no asset named ${name}`);
    return handler(c);
  };
}
