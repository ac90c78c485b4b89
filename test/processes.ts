import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { onProcessExit, randomApiKey } from '@conveyor/dev';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The admin key every API started by `startApp` accepts (BOOTSTRAP_ADMIN_KEY), tenant `default`. */
export const TEST_API_KEY = randomApiKey();

/** Headers that authenticate with TEST_API_KEY. */
export function authHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return { authorization: `Bearer ${TEST_API_KEY}`, ...extra };
}

export interface AppProcess {
  child: ChildProcess;
  /** Everything the process wrote to stderr and stdout so far. */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process has ended. */
  exited: Promise<number | string>;
}

/**
 * What each app runs, built by the test command's `tsc -b`: the stock API and worker as
 * production does (`node apps/<app>/dist/main.js`), and `worker`, the stock worker's
 * built-ins plus the testing types through the public runWorker (test/fixtures/testing-worker.ts).
 */
const entryPoints = {
  api: 'apps/api/dist/main.js',
  'stock-worker': 'apps/worker/dist/main.js',
  worker: 'node_modules/.cache/conveyor-test-dist/test/fixtures/testing-worker.js',
  /** A team's worker whose one type declares its queue's limits (test/fixtures/partner-worker.ts). */
  'partner-worker': 'node_modules/.cache/conveyor-test-dist/test/fixtures/partner-worker.js',
} as const;

/** Starts an app (see entryPoints), with `env` on top of the test's environment. */
export function startApp(app: keyof typeof entryPoints, env: Record<string, string>): AppProcess {
  return spawnProcess(process.execPath, ['--enable-source-maps', entryPoints[app]], {
    cwd: root,
    env: { LOG_LEVEL: 'warn', BOOTSTRAP_ADMIN_KEY: TEST_API_KEY, ...env },
  });
}

/**
 * Spawns `command` with `env` on top of the test's environment, collecting its output; however
 * the test process ends (failure, timeout, Ctrl-C), the child does not outlive it.
 */
export function spawnProcess(
  command: string,
  args: string[],
  { cwd = root, env = {} }: { cwd?: string; env?: Record<string, string> } = {},
): AppProcess {
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const removeHook = onProcessExit(() => child.kill('SIGKILL'));
  const exited = once(child, 'exit').then(([code, signal]) => {
    removeHook();
    return (code ?? signal) as number | string;
  });
  return { child, output: () => output, exited };
}

/** Polls `url` until it answers 200. */
export async function waitForOk(url: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
}

/** Sends `signal` and waits for the exit, failing after `timeoutMs`. */
export async function stopApp(app: AppProcess, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000) {
  if (app.child.exitCode !== null || app.child.signalCode !== null) return app.exited;
  app.child.kill(signal);
  const timer = setTimeout(() => app.child.kill('SIGKILL'), timeoutMs);
  try {
    return await app.exited;
  } finally {
    clearTimeout(timer);
  }
}
