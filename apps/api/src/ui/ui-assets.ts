import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConveyorError } from '@conveyor/core/errors';

/**
 * apps/api/public: found at the same relative place from src/ui (tests, tsx) and from
 * dist/ui (production, where the image copies public/ beside dist/).
 */
const publicDir = fileURLToPath(new URL('../../public/', import.meta.url));
/** Swagger UI's prebuilt assets, served from node_modules: no CDN, so /docs works offline. */
const swaggerDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

/** A file the API serves as-is, with its content type. */
export interface UiAsset {
  path: string;
  contentType: string;
}

/**
 * Throws one error naming every file of `assets` that is not there, so a broken install
 * (public/ not copied beside dist/, swagger-ui-dist not installed) stops the API at start
 * instead of answering 500 to the first visitor.
 */
export function checkUiAssets(assets: Iterable<UiAsset>): void {
  const missing = [...assets].filter((a) => !statSync(a.path, { throwIfNoEntry: false })?.isFile());
  if (missing.length === 0) return;
  throw new ConveyorError(
    'CONFIG_INVALID',
    `files the API serves (/docs, /dashboard) are missing: ${missing.map((a) => a.path).join(', ')}`,
  );
}

const js = 'text/javascript; charset=utf-8';
const css = 'text/css; charset=utf-8';
const html = 'text/html; charset=utf-8';

/** The API reference page. */
export const docsPage: UiAsset = { path: join(publicDir, 'docs/index.html'), contentType: html };

/** Files under /docs/assets/; only these names are served. */
export const docsAssets = {
  'swagger-ui.css': { path: join(swaggerDir, 'swagger-ui.css'), contentType: css },
  'swagger-ui-bundle.js': { path: join(swaggerDir, 'swagger-ui-bundle.js'), contentType: js },
  'favicon-32x32.png': { path: join(swaggerDir, 'favicon-32x32.png'), contentType: 'image/png' },
  'docs.js': { path: join(publicDir, 'docs/docs.js'), contentType: js },
  'docs.css': { path: join(publicDir, 'docs/docs.css'), contentType: css },
} satisfies Record<string, UiAsset>;
export const docsAssetNames = Object.keys(docsAssets);

/** The queue dashboard page. */
export const dashboardPage: UiAsset = { path: join(publicDir, 'dashboard/index.html'), contentType: html };

/** Files under /dashboard/assets/; only these names are served. */
export const dashboardAssets = {
  'dashboard.js': { path: join(publicDir, 'dashboard/dashboard.js'), contentType: js },
  'dashboard.css': { path: join(publicDir, 'dashboard/dashboard.css'), contentType: css },
} satisfies Record<string, UiAsset>;
export const dashboardAssetNames = Object.keys(dashboardAssets);
