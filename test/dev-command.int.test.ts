import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@conveyor/dev';
import { useTestServices } from '@conveyor/dev/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { type AppProcess, spawnProcess, stopApp, waitForOk } from './processes.js';

/**
 * The README's `npx conveyor dev ./worker.ts`, in a project folder of its own: the stock API
 * and the project's TypeScript worker, restarted when its file changes. REDIS_URL and
 * DATABASE_URL are set (the test's), so it starts no services of its own.
 */
const services = useTestServices();
const root = fileURLToPath(new URL('..', import.meta.url));
// Inside the repo's node_modules, so the project's imports resolve to the built packages.
const cache = join(root, 'node_modules/.cache');
mkdirSync(cache, { recursive: true });
const project = mkdtempSync(join(cache, 'conveyor-dev-project-'));
afterAll(() => rmSync(project, { recursive: true, force: true }));

const workerSource = (release: string) => `import { defineJob } from '@conveyor/sdk';
import { exitWithStartError, runWorker } from '@conveyor/worker';
import * as v from 'valibot';

const greet = defineJob({
  name: 'acme.greet',
  description: 'Greets (${release}).',
  input: v.strictObject({ name: v.string() }),
  run: async ({ name }) => ({ greeting: 'hello ' + name, release: '${release}' }),
});
runWorker({ jobs: [greet] }).catch(exitWithStartError);
`;

describe('conveyor dev', () => {
  it("runs the project's worker against the stock API and restarts it when its file changes", async () => {
    writeFileSync(join(project, 'worker.ts'), workerSource('one'));
    const [port, workerPort] = [await freePort(), await freePort()];
    const dev: AppProcess = spawnProcess(
      process.execPath,
      [join(root, 'packages/cli/bin/conveyor.js'), 'dev', './worker.ts'],
      {
        cwd: project,
        env: {
          REDIS_URL: services.redisUrl,
          DATABASE_URL: services.databaseUrl,
          QUEUE_PREFIX: services.prefix,
          PORT: String(port),
          WORKER_PORT: String(workerPort),
          LOG_LEVEL: 'warn',
          RATE_LIMIT_PER_SECOND: '0',
        },
      },
    );
    try {
      const api = `http://127.0.0.1:${port}`;
      await waitForOk(`${api}/health/live`, 30_000);
      const key = /admin API key[^:]*: (cvk_\S+)/.exec(dev.output())?.[1];
      expect(key, dev.output()).toBeDefined();
      const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
      const run = async () => {
        const submitted = await fetch(`${api}/v1/jobs`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ type: 'acme.greet', data: { name: 'dev' } }),
        });
        expect(submitted.status, await submitted.clone().text()).toBe(202);
        const { id } = (await submitted.json()) as { id: string };
        let job: { status: string; result?: { release: string } } = { status: 'queued' };
        await expect
          .poll(
            async () => {
              job = (await (await fetch(`${api}/v1/jobs/${id}`, { headers })).json()) as typeof job;
              return job.status;
            },
            { timeout: 20_000 },
          )
          .toBe('completed');
        return job.result;
      };
      const description = async () =>
        (
          (await (await fetch(`${api}/v1/job-types`, { headers })).json()) as {
            items: { name: string; description: string }[];
          }
        ).items.find((t) => t.name === 'acme.greet')?.description;

      await expect.poll(description, { timeout: 30_000 }).toBe('Greets (one).');
      expect(await run()).toEqual({ greeting: 'hello dev', release: 'one' });

      // An edit restarts the worker, which registers its new version; its jobs run the new code.
      writeFileSync(join(project, 'worker.ts'), workerSource('two'));
      await expect.poll(description, { timeout: 30_000 }).toBe('Greets (two).');
      await expect.poll(async () => (await run())?.release, { timeout: 30_000 }).toBe('two');
    } finally {
      // Ctrl-C stops everything: the CLI exits 0 and the API no longer answers.
      expect(await stopApp(dev, 'SIGINT', 20_000)).toBe(0);
    }
    await expect(fetch(`http://127.0.0.1:${workerPort}/health/live`)).rejects.toThrow();
  }, 120_000);

  it('names a worker file that is not there', async () => {
    const dev = spawnProcess(
      process.execPath,
      [join(root, 'packages/cli/bin/conveyor.js'), 'dev', './nope.ts'],
      {
        cwd: project,
        env: { REDIS_URL: services.redisUrl, DATABASE_URL: services.databaseUrl },
      },
    );
    expect(await dev.exited).toBe(1);
    expect(dev.output()).toContain(`no worker file at ${join(project, 'nope.ts')}`);
  });
});
