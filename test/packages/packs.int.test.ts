import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importGraph } from './import-graph.js';

/**
 * `npm run pack` (the README's command) at the root, then what a user gets from the
 * tarballs: their manifests and contents, an install of them outside the repo, the client's
 * runtime import graph, the CLI's bin and the types a TypeScript consumer compiles against.
 */
const root = fileURLToPath(new URL('../../', import.meta.url));
const published = ['packages/sdk', 'packages/core', 'packages/client', 'packages/cli'];
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
const run = (command: string, args: string[], cwd: string) => {
  const child = spawnSync(command, args, { cwd, encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${child.stderr}${child.stdout}`);
  return child.stdout;
};

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
  run(
    'npm',
    [
      'install',
      '--prefer-offline',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      ...manifests.map(tarballOf),
    ],
    consumer,
  );
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
const conveyor = createClient({ url: 'http://127.0.0.1:3000', apiKey: 'key' });
export const done: boolean = isTerminalStatus('failed');
export const submitted = conveyor.submit('sleep', { ms: 500 });
// @ts-expect-error the input of sleep is typed from the catalog
export const wrong = conveyor.submit('sleep', { ms: 'soon' });
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
