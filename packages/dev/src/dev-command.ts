/**
 * `conveyor dev ./worker.ts`, in a team's own project: a private Redis and an embedded
 * Postgres (unless REDIS_URL / DATABASE_URL are set), the migrations, the stock API, and the
 * project's worker, restarted whenever one of its files changes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrateDatabase } from '@conveyor/core/db';
import { randomApiKey } from './random-api-key.js';
import { resolveServices } from './services.js';

export interface DevOptions {
  /** The project's worker entry point, `.ts` or `.js` (it calls runWorker). */
  workerFile: string;
  /** The project's folder: its data lives in `.conveyor/` there. */
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
  /** Where progress and the children's output go, one line at a time. */
  log: (line: string) => void;
}

export interface DevSession {
  apiUrl: string;
  apiKey: string;
  /** Stops the worker, the API and the services it started. */
  stop(): Promise<void>;
  /** Resolves with an exit code once the session has stopped (by `stop()` or an API that exited). */
  done: Promise<number>;
}

/** The dev admin key: made once and kept in `dir`, so it survives restarts with the kept Postgres. */
export async function devAdminKey(dir: string): Promise<string> {
  const file = `${dir}/dev-admin-key`;
  const existing = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (/^cvk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/.test(existing)) return existing;
  const key = randomApiKey();
  await mkdir(dir, { recursive: true });
  await writeFile(file, key, { mode: 0o600 });
  return key;
}

/** Starts a dev session; see the module comment. */
export async function runDev({ workerFile, cwd, env, log }: DevOptions): Promise<DevSession> {
  const worker = resolve(cwd, workerFile);
  if (!existsSync(worker)) throw new Error(`no worker file at ${worker}`);
  let tsxCli: string;
  try {
    tsxCli = fileURLToPath(import.meta.resolve('tsx/cli'));
  } catch {
    throw new Error('conveyor dev runs the worker with tsx, which is not installed: npm install -D tsx');
  }
  const dataDir = resolve(cwd, '.conveyor');
  const services = await resolveServices({
    env,
    dataDir: `${dataDir}/pg`,
    redisDir: `${dataDir}/redis`,
    persistent: true,
    log,
  });
  const children: ChildProcess[] = [];
  let stopping: Promise<void> | undefined;
  let resolveDone: (code: number) => void = () => {};
  const done = new Promise<number>((r) => {
    resolveDone = r;
  });
  const stop = (code = 0) => {
    stopping ??= (async () => {
      await Promise.all(
        children.map(
          (child) =>
            new Promise<void>((r) => {
              if (child.exitCode !== null || child.signalCode !== null) return r();
              child.once('exit', () => r());
              child.kill('SIGTERM');
            }),
        ),
      );
      await services.stop();
      resolveDone(code);
    })();
    return stopping;
  };
  try {
    await migrateDatabase(services.databaseUrl);
    log('database migrated');
    const apiKey = env.BOOTSTRAP_ADMIN_KEY ?? (await devAdminKey(dataDir));
    const port = env.PORT ?? '3000';
    const shared = {
      ...env,
      REDIS_URL: services.redisUrl,
      DATABASE_URL: services.databaseUrl,
    } as Record<string, string>;
    const start = (name: string, args: string[], extra: Record<string, string>) => {
      const child = spawn(process.execPath, args, {
        cwd,
        env: { ...shared, ...extra },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      for (const stream of [child.stdout, child.stderr]) {
        let rest = '';
        stream?.on('data', (chunk: Buffer) => {
          const lines = (rest + chunk.toString()).split('\n');
          rest = lines.pop() ?? '';
          for (const line of lines) log(`${name} | ${line}`);
        });
      }
      children.push(child);
      return child;
    };
    // The stock API of the installed @conveyor/api, as its conveyor-api bin runs it.
    const api = start(
      'api',
      ['--enable-source-maps', fileURLToPath(new URL('./main.js', import.meta.resolve('@conveyor/api')))],
      {
        PORT: port,
        BOOTSTRAP_ADMIN_KEY: apiKey,
      },
    );
    api.once('exit', (code) => {
      if (stopping) return;
      log(`api exited with code ${code}; stopping`);
      void stop(code ?? 1);
    });
    // tsx runs TypeScript and restarts the worker when a file it imports changes; a short
    // grace keeps restarts quick (a running job is handed back, not lost).
    start('worker', [tsxCli, 'watch', '--clear-screen=false', worker], {
      WORKER_PORT: env.WORKER_PORT ?? '3001',
      SHUTDOWN_GRACE_MS: env.SHUTDOWN_GRACE_MS ?? '2000',
    });
    const apiUrl = `http://127.0.0.1:${port}`;
    log(`API on ${apiUrl} · dashboard ${apiUrl}/dashboard#key=${apiKey} · job types ${apiUrl}/v1/job-types`);
    log(`admin API key (tenant default, kept in .conveyor/dev-admin-key): ${apiKey}`);
    log(`worker ${worker} restarts when its files change · Ctrl-C stops everything`);
    return { apiUrl, apiKey, stop: () => stop(0), done };
  } catch (error) {
    await stop(1);
    throw error;
  }
}
