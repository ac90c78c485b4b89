import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort, onProcessExit } from '@conveyor/dev';
import { useTestServices } from '@conveyor/dev/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { startApp, waitForOk } from './processes.js';

// Issue 16: `npm start` keeps what it accepted, and its ports are free ones or the configured ones.

const services = useTestServices();
const dataDir = mkdtempSync(join(tmpdir(), 'conveyor-npm-start-'));
const held: Server[] = [];
afterAll(() => {
  for (const server of held) server.close();
  rmSync(dataDir, { recursive: true, force: true });
});

interface Launcher {
  output(): string;
  /** Ctrl-C in its terminal (SIGINT to its whole process group); resolves to its exit code or signal. */
  interrupt(): Promise<number | string>;
}

/** `npm start` with no REDIS_URL: its private redis-server, kept in dataDir. */
function npmStart(env: Record<string, string>): Launcher {
  const child = spawn('npm', ['start'], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env: {
      ...process.env,
      REDIS_URL: '',
      DATABASE_URL: services.databaseUrl,
      CONVEYOR_DATA_DIR: dataDir,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, as a terminal gives it: Ctrl-C reaches npm, tsx and the launcher.
    detached: true,
  });
  let output = '';
  for (const stream of [child.stdout, child.stderr])
    stream?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // npm re-raises the SIGINT its script ended on, as a shell expects of Ctrl-C.
  const exited = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string);
  const removeHook = onProcessExit(() => process.kill(-(child.pid ?? 0), 'SIGKILL'));
  return {
    output: () => output,
    async interrupt() {
      process.kill(-(child.pid ?? 0), 'SIGINT');
      const code = await Promise.race([exited, sleep(30_000).then(() => 'hung' as const)]);
      removeHook();
      if (code === 'hung') {
        process.kill(-(child.pid ?? 0), 'SIGKILL');
        throw new Error(`npm start did not stop within 30 s on SIGINT:\n${output}`);
      }
      return code;
    },
  };
}

/** Listens on `port` (all interfaces) until the test file ends; false if it is taken already. */
function hold(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, () => {
      held.push(server);
      resolve(true);
    });
  });
}

describe('npm start', () => {
  it('still has the delayed job it accepted after Ctrl-C and a restart (its Redis appends to disk)', async () => {
    const port = await freePort();
    const api = `http://127.0.0.1:${port}`;
    const workerPort = await freePort();
    const first = npmStart({ PORT: String(port), WORKER_PORT: String(workerPort) });
    // The API accepts `echo` once the worker registered it: its health port answers ready
    // only then (on a fresh data directory that can come after the API's).
    for (const url of [`${api}/health/ready`, `http://127.0.0.1:${workerPort}/health/ready`]) {
      await waitForOk(url, 90_000).catch((error: Error) => {
        throw new Error(`${error.message}\n${first.output()}`);
      });
    }
    expect(first.output()).toContain('append-only, fsync always');
    const key = readFileSync(join(dataDir, 'dev-admin-key'), 'utf8').trim();
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const submitted = await fetch(`${api}/v1/jobs`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ type: 'echo', data: { kept: true }, delayMs: 600_000 }),
    });
    expect(submitted.status).toBe(202);
    const { id } = (await submitted.json()) as { id: string };
    expect([0, 'SIGINT']).toContain(await first.interrupt());
    expect(first.output()).toContain('stopping…');

    // Restarted with the worker's default port taken: another free one, said so, and the job.
    // Held here, or already in use by something else: taken either way.
    await hold(3001);
    const second = npmStart({ PORT: String(port) });
    await waitForOk(`${api}/health/ready`, 90_000).catch((error: Error) => {
      throw new Error(`${error.message}\n${second.output()}`);
    });
    expect(second.output()).toMatch(/WORKER_PORT unset and 3001 is taken: using \d+/);
    const job = (await (await fetch(`${api}/v1/jobs/${id}`, { headers })).json()) as {
      status: string;
      data: unknown;
    };
    expect(job).toMatchObject({ status: 'queued', data: { kept: true } });
    expect([0, 'SIGINT']).toContain(await second.interrupt());
  }, 240_000);
});

describe('a taken port', () => {
  it('stops the API with one line naming PORT, not a stack trace', async () => {
    const port = await freePort();
    expect(await hold(port)).toBe(true);
    const api = startApp('api', {
      REDIS_URL: services.redisUrl,
      DATABASE_URL: services.databaseUrl,
      QUEUE_PREFIX: services.prefix,
      PORT: String(port),
    });
    expect(await api.exited).toBe(1);
    const lines = api
      .output()
      .split('\n')
      .filter((line) => line.includes('conveyor-api:'));
    expect(lines).toEqual([
      `conveyor-api: PORT ${port} on 0.0.0.0 is in use by another process: choose another port`,
    ]);
    expect(api.output()).not.toMatch(/\n\s+at /);
  });
});
