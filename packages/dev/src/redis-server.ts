import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onProcessExit } from './exit-hooks.js';
import { freePort } from './free-port.js';

export interface RedisServerOptions {
  /** @defaultValue a free port */
  port?: number;
  /** Persist with AOF (`appendfsync always`), so restart() keeps the data. @defaultValue false */
  appendOnly?: boolean;
  /** Working directory (AOF files). @defaultValue a new temp directory */
  dir?: string;
  extraArgs?: string[];
}

export interface RedisServerHandle {
  url: string;
  port: number;
  readonly pid: number;
  /** Shuts the server down, waits for it to exit, and removes a directory it made. */
  stop(): Promise<void>;
  /** Sends a signal (SIGKILL, SIGSTOP, …) without waiting. */
  kill(signal?: NodeJS.Signals): void;
  /** Stops the server but keeps its directory, for up() or restart() (an outage). */
  down(): Promise<void>;
  /** Starts a server stopped by down() again, on the same port and directory. */
  up(): Promise<void>;
  /** down() then up(). */
  restart(): Promise<void>;
}

export const REDIS_INSTALL_HINT =
  'redis-server was not found on the PATH. Install it (Debian/Ubuntu: apt-get install redis-server; ' +
  'macOS: brew install redis) or set REDIS_URL to a Redis you run yourself.';

function hasRedisServer(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).error === undefined;
}

/** Resolves once the server answers PING, or rejects after `timeoutMs`. */
async function waitForPing(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const answered = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => socket.write('PING\r\n'));
      socket.setTimeout(500, () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('data', (data) => {
        socket.destroy();
        resolve(data.toString().startsWith('+PONG'));
      });
      socket.once('error', () => resolve(false));
    });
    if (answered) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`);
}

/**
 * Starts a private redis-server from the PATH on 127.0.0.1, configured as BullMQ needs
 * (noeviction). It is killed when this process exits.
 *
 * @example
 * const redis = await startRedisServer();
 * // … use redis.url …
 * await redis.stop();
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServerHandle> {
  if (!hasRedisServer()) throw new Error(REDIS_INSTALL_HINT);
  const port = options.port ?? (await freePort());
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'conveyor-redis-')));
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--maxmemory-policy',
    'noeviction',
    ...(options.appendOnly ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
    ...(options.extraArgs ?? []),
  ];
  let child: ChildProcess;
  let removeHook = () => {};

  async function start(): Promise<void> {
    child = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const current = child;
    removeHook = onProcessExit(() => current.kill('SIGKILL'));
    const exited = once(child, 'exit').then(() => {
      throw new Error(`redis-server exited at start: ${stderr.trim() || 'no output'}`);
    });
    await Promise.race([waitForPing(port, 5_000), exited]);
    exited.catch(() => {});
  }

  async function stop(): Promise<void> {
    removeHook();
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return child.pid ?? -1;
    },
    async stop() {
      await stop();
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
    kill: (signal = 'SIGKILL') => child.kill(signal),
    down: stop,
    up: start,
    async restart() {
      await stop();
      await start();
    },
  };
}
