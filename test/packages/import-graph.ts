import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { init, parse } from 'es-module-lexer';

/** What an ES module loads at runtime, followed to the end (type-only imports are gone from JS). */
export interface ImportGraph {
  /** Every module file reached, as file: URLs, the entry first. */
  files: string[];
  /** The packages entered through a bare specifier (`ioredis`, `@conveyor/core`), sorted. */
  packages: string[];
  /** The Node builtins imported (`fs` for `node:fs`), sorted. */
  builtins: string[];
  /** Imports the walker cannot follow: `import(expr)` of a computed specifier, CommonJS files. */
  opaque: string[];
}

/**
 * Node's own ESM resolution (package `exports`, the `import`/`node`/`default` conditions,
 * symlinks), for `[specifier, parent URL]` pairs. `import.meta.resolve` honours a parent
 * only behind a flag, so one child process resolves a whole batch.
 */
function resolveAll(pairs: Array<[string, string]>): string[] {
  const script = `import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
const pairs = JSON.parse(readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(pairs.map(([s, p]) => { try { return import.meta.resolve(s, p); } catch (e) { return 'error:' + e.message; } })));`;
  const child = spawnSync(
    process.execPath,
    ['--experimental-import-meta-resolve', '--no-warnings', '--input-type=module', '-e', script],
    { input: JSON.stringify(pairs), encoding: 'utf8' },
  );
  if (child.status !== 0) throw new Error(`the resolver failed: ${child.stderr}`);
  return JSON.parse(child.stdout) as string[];
}

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return (specifier.startsWith('@') ? parts.slice(0, 2) : parts.slice(0, 1)).join('/');
}

/** Whether Node loads this file as an ES module: `.mjs`, or `.js` under a `"type": "module"` package.json. */
function isEsModule(url: string): boolean {
  const path = fileURLToPath(url);
  if (path.endsWith('.mjs')) return true;
  if (!path.endsWith('.js')) return false;
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest))
      return (JSON.parse(readFileSync(manifest, 'utf8')) as { type?: string }).type === 'module';
    if (dirname(dir) === dir) return false;
  }
}

const isBare = (specifier: string) => !/^(\.|\/|#|[a-z]+:)/.test(specifier);

/**
 * Walks every static `import`/`export … from` and every `import('literal')` from `entry`
 * (a file path) through relative files and into packages, as Node would load them.
 * Throws on a specifier Node cannot resolve: the walker vouches only for what it saw.
 *
 * @example
 * const { packages } = await importGraph('node_modules/@conveyor/client/dist/index.js');
 */
export async function importGraph(entry: string): Promise<ImportGraph> {
  await init;
  const start = pathToFileURL(entry).href;
  const files = [start];
  const seen = new Set(files);
  const packages = new Set<string>();
  const builtins = new Set<string>();
  const opaque: string[] = [];
  let frontier = [start];
  while (frontier.length > 0) {
    const pairs: Array<[string, string]> = [];
    for (const url of frontier) {
      const source = readFileSync(fileURLToPath(url), 'utf8');
      const [imports] = parse(source, url);
      for (const { n: specifier, d: dynamicAt, ss, se } of imports) {
        if (dynamicAt === -2) continue; // import.meta
        if (specifier === undefined) opaque.push(`${url}: ${source.slice(ss, se)}`);
        else pairs.push([specifier, url]);
      }
    }
    frontier = [];
    const resolved = resolveAll(pairs);
    pairs.forEach(([specifier, parent], i) => {
      const target = resolved[i] ?? 'error:unanswered';
      if (target.startsWith('error:')) throw new Error(`${parent}: cannot resolve ${specifier}: ${target}`);
      if (target.startsWith('node:')) {
        builtins.add(target.slice('node:'.length));
        return;
      }
      if (isBare(specifier)) packages.add(packageName(specifier));
      if (seen.has(target)) return;
      seen.add(target);
      files.push(target);
      if (isEsModule(target)) frontier.push(target);
      else if (!target.endsWith('.json'))
        opaque.push(`${parent}: ${specifier} → ${target} (not an ES module)`);
    });
  }
  return { files, packages: [...packages].sort(), builtins: [...builtins].sort(), opaque };
}
