import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from '@conveyor/dev';
import { useTestServices } from '@conveyor/dev/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppProcess, startApp, stopApp, TEST_API_KEY, waitForOk } from './processes.js';

const services = useTestServices();
const root = fileURLToPath(new URL('..', import.meta.url));
const started: AppProcess[] = [];
let url: string;

/** Runs the real `conveyor` bin as a child process. */
function conveyor(
  args: string[],
  stdin?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['packages/cli/bin/conveyor.js', ...args], {
      cwd: root,
      env: { ...process.env, CONVEYOR_URL: url, CONVEYOR_API_KEY: TEST_API_KEY },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

beforeAll(async () => {
  const env = {
    REDIS_URL: services.redisUrl,
    DATABASE_URL: services.databaseUrl,
    QUEUE_PREFIX: services.prefix,
  };
  const port = await freePort();
  started.push(startApp('api', { ...env, PORT: String(port), HOST: '127.0.0.1' }));
  url = `http://127.0.0.1:${port}`;
  await waitForOk(`${url}/health/ready`);
  const workerPort = await freePort();
  started.push(startApp('worker', { ...env, WORKER_PORT: String(workerPort) }));
  await waitForOk(`http://127.0.0.1:${workerPort}/health/ready`);
});
afterAll(async () => {
  await Promise.all(started.map((p) => stopApp(p)));
});

describe('conveyor CLI', () => {
  it('submits a job and watches it to completion (exit 0)', async () => {
    const run = await conveyor(['submit', 'sleep', '{"ms":300}', '--wait']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/ sleep {2}queued/);
    expect(run.stdout).toContain('completed');
    expect(run.stdout).toContain('result {"sleptMs"');
  });

  it('reads data from stdin and prints JSON for scripts', async () => {
    const run = await conveyor(['submit', 'echo', '--json'], '{"from":"stdin"}');
    expect(run.code).toBe(0);
    const { id } = JSON.parse(run.stdout) as { id: string };
    const watched = await conveyor(['watch', id, '--json']);
    expect(watched.code).toBe(0);
    const lines = watched.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string });
    expect(lines[0]?.kind).toBe('snapshot');
    const got = await conveyor(['get', id, '--json']);
    expect(JSON.parse(got.stdout)).toMatchObject({ id, status: 'completed', result: { from: 'stdin' } });
  });

  it('exits 1 when the job fails, and when the API refuses', async () => {
    const failing = await conveyor(['submit', 'test.fail', '{}', '--attempts', '1', '--wait']);
    expect(failing.code).toBe(1);
    expect(failing.stdout).toContain('failed');
    const missing = await conveyor(['get', '00000000-0000-4000-8000-000000000000']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('404 JOB_NOT_FOUND');
    const invalid = await conveyor(['submit', 'sleep', '{"ms":"soon"}']);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('VALIDATION_FAILED');
  });

  it('lists jobs and queues', async () => {
    const list = await conveyor(['list', '--status', 'completed', '--limit', '2']);
    expect(list.code).toBe(0);
    expect(list.stdout.trim().split('\n').length).toBeGreaterThanOrEqual(1);
    const queues = await conveyor(['queues']);
    expect(queues.code).toBe(0);
    expect(queues.stdout).toMatch(/^default {2}waiting \d+/m);
  });

  it('gives usage and exit 2 for wrong arguments', async () => {
    for (const args of [
      [],
      ['frobnicate'],
      ['get'],
      ['submit'],
      ['submit', 'echo', '{not json'],
      ['list', '--limit', 'ten'],
      ['get', 'a', '--bogus'],
    ]) {
      const run = await conveyor(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stdout + run.stderr, args.join(' ')).toContain('usage: conveyor');
    }
  });
});
