import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDatabase } from '@conveyor/core/db';
import { freePort, randomApiKey } from '@conveyor/dev';
import { useTestServices } from '@conveyor/dev/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppProcess, spawnProcess, waitForOk } from '../processes.js';
import { importGraph } from './import-graph.js';

/**
 * `npm run pack` (the README's command) at the root, then what a user gets from the
 * tarballs: their manifests and contents, an install of them outside the repo, the client's
 * runtime import graph, the CLI's bin and the types a TypeScript consumer compiles against.
 */
const root = fileURLToPath(new URL('../../', import.meta.url));
const published = [
  'packages/sdk',
  'packages/core',
  'packages/client',
  'packages/cli',
  'apps/worker',
  'apps/api',
  'packages/dev',
];
/** Packages the browser-safe client must never load: servers' connections and logging. */
const serverOnly = ['bullmq', 'ioredis', 'postgres', 'pino', 'drizzle-orm', 'prom-client', 'cron-parser'];

interface Manifest {
  name: string;
  version?: string;
  private?: boolean;
  license?: string;
  types?: string;
  bin?: Record<string, string>;
  exports?: Record<string, Record<string, string>>;
  dependencies?: Record<string, string>;
}

const readManifest = (dir: string) => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;
const tarballOf = ({ name, version }: Manifest) =>
  join(root, 'dist-packages', `${name.replace('@', '').replace('/', '-')}-${version}.tgz`);
const run = (command: string, args: string[], cwd: string, env: Record<string, string> = {}) => {
  const child = spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...process.env, ...env } });
  if (child.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${child.stderr}${child.stdout}`);
  return child.stdout;
};

/** `npm install` of the packages' tarballs in `dir` (with what its package.json lists). */
const installTarballs = (dir: string, packages: Manifest[]) =>
  run(
    'npm',
    [
      'install',
      '--prefer-offline',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      ...packages.map(tarballOf),
    ],
    dir,
  );

const manifests = published.map((dir) => readManifest(join(root, dir)));
let consumer: string;

beforeAll(() => {
  run('npm', ['run', 'pack'], root);
  // the README's `npm install /path/to/conveyor/dist-packages/*.tgz`, in a project outside the repo
  consumer = mkdtempSync(join(tmpdir(), 'conveyor-consumer-'));
  writeFileSync(
    join(consumer, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
  );
  installTarballs(consumer, manifests);
}, 120_000);

afterAll(() => {
  if (consumer) rmSync(consumer, { recursive: true, force: true });
});

describe('npm run pack', () => {
  it.each(manifests.map((m) => [m.name, m] as const))(
    '%s: a public manifest whose every target is in the tarball',
    (_, manifest) => {
      const files = run('tar', ['-tzf', tarballOf(manifest)], root)
        .split('\n')
        .filter(Boolean)
        .map((f) => f.replace(/^package\//, ''));
      const inside = (target: string) => files.includes(target.replace(/^\.\//, ''));
      const packed = JSON.parse(
        run('tar', ['-xzOf', tarballOf(manifest), 'package/package.json'], root),
      ) as Manifest;

      expect(packed.private).toBeUndefined();
      expect(packed.version).toMatch(/^\d+\.\d+\.\d+$/);
      expect(packed.license).toBe('MIT');
      expect(files).toContain('LICENSE');
      expect(packed.exports, 'exports').toBeDefined();
      for (const [subpath, conditions] of Object.entries(packed.exports ?? {})) {
        // `conveyor-source` points at src/ for the repo's own tooling (tsx, vitest); nobody else sets it.
        const { 'conveyor-source': _source, types, default: entry, ...other } = conditions;
        expect(other, `${subpath}: only types and default`).toEqual({});
        expect(types && inside(types), `${subpath} types ${types}`).toBe(true);
        expect(entry && inside(entry), `${subpath} default ${entry}`).toBe(true);
      }
      if (packed.exports?.['.']) expect(packed.types).toBe(packed.exports['.'].types);
      if (packed.types) expect(inside(packed.types), packed.types).toBe(true);
      for (const bin of Object.values(packed.bin ?? {})) expect(inside(bin), bin).toBe(true);
      // Internal dependencies name the exact version packed beside them.
      for (const [dep, range] of Object.entries(packed.dependencies ?? {})) {
        const sibling = manifests.find((m) => m.name === dep);
        if (sibling) expect(range, dep).toBe(sibling.version);
      }
      expect(files.filter((f) => /^src\/|\.test\.|tsbuildinfo/.test(f))).toEqual([]);
    },
  );

  it('installs outside the repo: the client imports, the CLI runs, the types compile', () => {
    const client = run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "import('@conveyor/client').then((m) => console.log(typeof m.createClient))",
      ],
      consumer,
    );
    expect(client.trim()).toBe('function');
    const usage = spawnSync(join(consumer, 'node_modules/.bin/conveyor'), [], {
      cwd: consumer,
      encoding: 'utf8',
    });
    expect(usage.status).toBe(2);
    expect(usage.stderr + usage.stdout).toContain('usage: conveyor <command>');

    writeFileSync(
      join(consumer, 'use.ts'),
      `import { createClient } from '@conveyor/client';
import { isTerminalStatus } from '@conveyor/core/status';
import { defineJob } from '@conveyor/sdk';
import * as v from 'valibot';
const wait = defineJob({ name: 'acme.wait', description: 'Waits.', input: v.object({ ms: v.number() }) });
const conveyor = createClient<[typeof wait]>({ url: 'http://127.0.0.1:3000', apiKey: 'key' });
export const done: boolean = isTerminalStatus('failed');
export const submitted = conveyor.submit('acme.wait', { ms: 500 });
// @ts-expect-error the input of acme.wait is typed from its definition
export const wrong = conveyor.submit('acme.wait', { ms: 'soon' });
`,
    );
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2023',
          lib: ['es2023', 'dom'],
          types: [],
          strict: true,
          noEmit: true,
          skipLibCheck: true,
        },
        files: ['use.ts'],
      }),
    );
    run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', '.'], consumer);
  });
});

describe("the client's runtime import graph", () => {
  it('holds @conveyor/core and no BullMQ, ioredis, Postgres, pino, Drizzle or Node builtin', async () => {
    const graph = await importGraph(join(consumer, 'node_modules/@conveyor/client/dist/index.js'));
    expect(graph.packages).toEqual(['@conveyor/core']);
    expect(graph.packages.filter((p) => serverOnly.includes(p))).toEqual([]);
    expect(graph.builtins).toEqual([]);
    expect(graph.opaque).toEqual([]);
    // index, client, sse, and the one core subpath it runs: @conveyor/core/status
    expect(graph.files.map((f) => f.slice(f.indexOf('/node_modules/') + 1))).toEqual([
      'node_modules/@conveyor/client/dist/index.js',
      'node_modules/@conveyor/client/dist/client.js',
      'node_modules/@conveyor/client/dist/job-definitions.js',
      'node_modules/@conveyor/client/dist/sse.js',
      'node_modules/@conveyor/core/dist/status/index.js',
      'node_modules/@conveyor/core/dist/jobs/job-status.js',
    ]);
  });

  it("holds nothing but the SDK itself for @conveyor/sdk, which a team's project and its browser code import", async () => {
    const graph = await importGraph(join(consumer, 'node_modules/@conveyor/sdk/dist/index.js'));
    expect(graph.packages).toEqual([]);
    expect(graph.builtins).toEqual([]);
    expect(graph.opaque).toEqual([]);
  });

  it('would catch a client that imports ioredis, or pino lazily, behind a re-export', async () => {
    const tampered = join(consumer, 'node_modules/tampered-client');
    cpSync(join(consumer, 'node_modules/@conveyor/client'), tampered, { recursive: true });
    appendFileSync(
      join(tampered, 'dist/sse.js'),
      "\nimport 'ioredis';\nexport const lazy = () => import('pino');\n",
    );
    const graph = await importGraph(join(tampered, 'dist/index.js'));
    expect(graph.packages).toEqual(expect.arrayContaining(['ioredis', 'pino']));
  });

  it('reports what it cannot follow: a computed import()', async () => {
    const dir = mkdtempSync(join(consumer, 'computed-'));
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    writeFileSync(join(dir, 'index.js'), "export const load = (name) => import('./' + name + '.js');\n");
    const graph = await importGraph(join(dir, 'index.js'));
    expect(graph.opaque).toHaveLength(1);
  });
});

/**
 * examples/acme-worker, as a team's own project outside the repo: installed only from the
 * tarballs, built with its own TypeScript (which must refuse its client's wrong calls), its
 * worker run from its own folder against the stock API of @conveyor/api's bins.
 */
describe('the example project, installed from the tarballs', () => {
  const services = useTestServices();
  const example = join(root, 'examples/acme-worker');
  let project: string;
  let api: string;
  const started: AppProcess[] = [];
  const apiKey = randomApiKey();
  const start = (command: string, args: string[], cwd: string, env: Record<string, string>) => {
    const app = spawnProcess(command, args, { cwd, env: { LOG_LEVEL: 'warn', ...env } });
    started.push(app);
    return app;
  };
  const connection = () => ({
    REDIS_URL: services.redisUrl,
    DATABASE_URL: services.databaseUrl,
    QUEUE_PREFIX: services.prefix,
  });

  beforeAll(async () => {
    project = mkdtempSync(join(tmpdir(), 'acme-worker-'));
    cpSync(example, project, {
      recursive: true,
      filter: (path) => !/(^|\/)(node_modules|dist)(\/|$)/.test(path.slice(example.length)),
    });
    // Its dependencies, and its devDependencies @conveyor/cli and @conveyor/dev (`npm run dev`).
    const own = [
      '@conveyor/sdk',
      '@conveyor/core',
      '@conveyor/client',
      '@conveyor/worker',
      '@conveyor/cli',
      '@conveyor/dev',
      '@conveyor/api',
    ];
    installTarballs(
      project,
      manifests.filter((m) => own.includes(m.name)),
    );
    // The stock API, from @conveyor/api's bins in the consumer install: migrate, then serve.
    const bin = (name: string) => join(consumer, 'node_modules/.bin', name);
    run(bin('conveyor-migrate'), [], consumer, connection());
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    start(bin('conveyor-api'), [], consumer, {
      ...connection(),
      PORT: String(port),
      HOST: '127.0.0.1',
      BOOTSTRAP_ADMIN_KEY: apiKey,
      RATE_LIMIT_PER_SECOND: '0',
    });
    await waitForOk(`${api}/health/live`);
  }, 180_000);

  afterAll(async () => {
    for (const app of started) app.child.kill('SIGKILL');
    if (project) rmSync(project, { recursive: true, force: true });
  });

  it("builds with its own TypeScript, which refuses its typed client's wrong input", () => {
    const source = readFileSync(join(project, 'src/submit.ts'), 'utf8');
    run('npm', ['run', 'build'], project);
    // The refusals are @ts-expect-error lines: without them the build fails, naming the field.
    writeFileSync(join(project, 'src/submit.ts'), source.replaceAll('// @ts-expect-error', '// expected:'));
    const failed = spawnSync('npm', ['run', 'build'], { cwd: project, encoding: 'utf8' });
    writeFileSync(join(project, 'src/submit.ts'), source);
    expect(failed.status).not.toBe(0);
    // tsc names the wrong `rows` (its type) and the unknown name.
    expect(failed.stdout + failed.stderr).toMatch(
      /'string' is not assignable to type '\{ name: string; value: number; \}\[\]'/,
    );
    expect(failed.stdout + failed.stderr).toMatch(/"acme\.unknown"/);
    run('npm', ['run', 'build'], project); // dist/ from the untouched build stays usable
  }, 120_000);

  it('runs its worker from its own folder: 400 naming the field, then 202, streamed, and a completed row', async () => {
    const workerPort = await freePort();
    const worker = start(process.execPath, ['dist/worker.js'], project, {
      ...connection(),
      WORKER_PORT: String(workerPort),
    });
    await waitForOk(`http://127.0.0.1:${workerPort}/health/ready`, 30_000).catch((error: Error) => {
      throw new Error(`${error.message}\n${worker.output()}`);
    });
    const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
    // Listed once the API next reads the registry the worker wrote.
    const listed = async () =>
      (
        (await (await fetch(`${api}/v1/job-types`, { headers })).json()) as {
          items: { name: string; queue: string }[];
        }
      ).items.map((t) => [t.name, t.queue]);
    await expect.poll(listed, { timeout: 15_000 }).toEqual([['acme.report', 'reports']]);

    const bad = await fetch(`${api}/v1/jobs`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ type: 'acme.report', data: { title: 'Q3', rows: 'north=3' } }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: { path: string }[] }).errors.map((e) => e.path)).toContain(
      'data.rows',
    );

    // A delayed job, so the stream is open before it runs.
    const submitted = await fetch(`${api}/v1/jobs`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        type: 'acme.report',
        data: { title: 'Q4', rows: [{ name: 'east', value: 5 }] },
        delayMs: 500,
      }),
    });
    expect(submitted.status).toBe(202);
    const { id } = (await submitted.json()) as { id: string };
    const stream = await fetch(`${api}/v1/jobs/${id}/events`, {
      headers: { ...headers, accept: 'text/event-stream' },
      signal: AbortSignal.timeout(15_000),
    });
    const events: string[] = [];
    const decoder = new TextDecoder();
    let text = '';
    for await (const chunk of stream.body ?? []) {
      text += decoder.decode(chunk as Uint8Array, { stream: true });
      for (const status of text.matchAll(/"status":"(\w+)"/g)) events.push(status[1] ?? '');
      if (text.includes('"status":"completed"')) break;
    }
    expect(events[0]).toBe('queued'); // the snapshot
    expect(events).toContain('completed');

    const database = createDatabase(services.databaseUrl, { max: 1 });
    const [row] = await database.sql<{ status: string; result: { yaml: string; total: number } }[]>`
      select status, result from jobs where tenant = 'default' and id = ${id}`;
    await database.close();
    expect(row?.status).toBe('completed');
    expect(row?.result.total).toBe(5);
    expect(row?.result.yaml).toContain('title: Q4'); // rendered by the project's own dependency

    // Its typed client, run from its folder: submits and waits for the result.
    const printed = run('npm', ['run', '--silent', 'submit'], project, {
      CONVEYOR_URL: api,
      CONVEYOR_API_KEY: apiKey,
    });
    expect(JSON.parse(printed)).toMatchObject({ status: 'completed', result: { total: 7 } });
  }, 120_000);

  it('runs `conveyor dev src/worker.ts` from its folder: the stock API and its worker, its jobs completed, Ctrl-C stops both', async () => {
    const port = await freePort();
    const devApi = `http://127.0.0.1:${port}`;
    // `npm run dev` in the project; Redis and Postgres are the test's (set), on a prefix of its own.
    const dev = start(join(project, 'node_modules/.bin/conveyor'), ['dev', 'src/worker.ts'], project, {
      ...connection(),
      QUEUE_PREFIX: `${services.prefix}-dev`,
      PORT: String(port),
      WORKER_PORT: String(await freePort()),
      BOOTSTRAP_ADMIN_KEY: apiKey,
    });
    await waitForOk(`${devApi}/health/ready`, 60_000).catch((error: Error) => {
      throw new Error(`${error.message}\n${dev.output()}`);
    });
    const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
    const submit = async () =>
      fetch(`${devApi}/v1/jobs`, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          type: 'acme.report',
          data: { title: 'dev', rows: [{ name: 'w', value: 2 }] },
        }),
      });
    // The worker (run by tsx from src/) registers acme.report shortly after the API is up.
    let submitted = await submit();
    for (let i = 0; submitted.status !== 202 && i < 100; i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      submitted = await submit();
    }
    expect(submitted.status, dev.output()).toBe(202);
    const { id } = (await submitted.json()) as { id: string };
    const status = async () =>
      (
        (await (await fetch(`${devApi}/v1/jobs/${id}`, { headers })).json()) as {
          status: string;
          result?: unknown;
        }
      ).status;
    await expect.poll(status, { timeout: 20_000 }).toBe('completed');
    dev.child.kill('SIGINT');
    const [code] = (await once(dev.child, 'exit')) as [number | null];
    expect(code, dev.output()).toBe(0);
    // The API it started is gone with it.
    await expect(fetch(`${devApi}/health/live`)).rejects.toThrow();
  }, 120_000);
});
