import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isConveyorError } from '@conveyor/core/errors';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { serveAsset, serveAssets } from './serve-asset.js';
import type { UiAsset } from './ui-assets.js';

const dirs: string[] = [];

/** A bare app answering errors quietly: 404 for NOT_FOUND, 500 for anything else. */
const app = () =>
  new Hono().onError((error, c) => c.text(error.message, isConveyorError(error, 'NOT_FOUND') ? 404 : 500));
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-asset-'));
  dirs.push(dir);
  return dir;
}

describe('serveAsset', () => {
  it('answers a file that could not be read once, as soon as it can be read again', async () => {
    const path = join(tempDir(), 'page.html');
    writeFileSync(path, '<p>one</p>');
    const pages = app().get('/page', serveAsset({ path, contentType: 'text/html' }));
    rmSync(path);
    expect((await pages.request('/page')).status).toBe(500);
    writeFileSync(path, '<p>two</p>');
    const response = await pages.request('/page');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html');
    expect(await response.text()).toBe('<p>two</p>');
  });

  it('refuses to start on a missing file, naming it', () => {
    const path = join(tempDir(), 'missing.html');
    expect(() => serveAsset({ path, contentType: 'text/html' })).toThrow(path);
  });
});

describe('serveAssets', () => {
  it('refuses to start while any file is missing, naming every missing one', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'here.js'), '');
    const assets: Record<string, UiAsset> = {
      'here.js': { path: join(dir, 'here.js'), contentType: 'text/javascript' },
      'a.css': { path: join(dir, 'a.css'), contentType: 'text/css' },
      'b.css': { path: join(dir, 'b.css'), contentType: 'text/css' },
    };
    let message = '';
    try {
      serveAssets(assets);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain(join(dir, 'a.css'));
    expect(message).toContain(join(dir, 'b.css'));
    expect(message).not.toContain(join(dir, 'here.js'));
  });

  it('answers only the names it was given', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'app.js'), 'run()');
    const assets = app().get(
      '/assets/:file',
      serveAssets({ 'app.js': { path: join(dir, 'app.js'), contentType: 'text/javascript' } }),
    );
    expect(await (await assets.request('/assets/app.js')).text()).toBe('run()');
    expect((await assets.request('/assets/other.js')).status).toBe(404);
  });
});
