import { mkdir } from 'node:fs/promises';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { startRedisServer } from './redis-server.js';

export interface Services {
  redisUrl: string;
  /** An admin URL: allowed to create databases. */
  databaseUrl: string;
  /** Stops the private servers this call started (not the ones from the environment). */
  stop(): Promise<void>;
}

export interface ResolveServicesOptions {
  env: Readonly<Record<string, string | undefined>>;
  /** Data directory of the embedded Postgres. */
  dataDir: string;
  /**
   * Keep the data between runs: the embedded Postgres's, and the private Redis's in
   * `redisDir` (append-only file, fsync on every write), so accepted jobs survive a restart.
   * @defaultValue false
   */
  persistent?: boolean;
  /** Data directory of the private redis-server when `persistent`. @defaultValue `${dataDir}-redis` */
  redisDir?: string;
  log?: (line: string) => void;
}

/**
 * Redis and Postgres for a dev or test run: REDIS_URL / DATABASE_URL when set, otherwise a
 * private redis-server and an embedded Postgres, started here.
 */
export async function resolveServices(options: ResolveServicesOptions): Promise<Services> {
  const { env, dataDir, persistent = false, log = () => {} } = options;
  const stops: (() => Promise<void>)[] = [];
  try {
    let redisUrl = env.REDIS_URL;
    if (!redisUrl) {
      const dir = persistent ? (options.redisDir ?? `${dataDir}-redis`) : undefined;
      if (dir) await mkdir(dir, { recursive: true });
      const redis = await startRedisServer(dir ? { dir, appendOnly: true } : {});
      stops.push(redis.stop);
      redisUrl = redis.url;
      log(
        `REDIS_URL unset: started a private redis-server on port ${redis.port}${dir ? ` (append-only, fsync always, data in ${dir})` : ''}`,
      );
    }
    let databaseUrl = env.DATABASE_URL;
    if (!databaseUrl) {
      const started = Date.now();
      const pg = await startEmbeddedPostgres({ dataDir, persistent, log });
      stops.push(pg.stop);
      databaseUrl = pg.url;
      log(
        `DATABASE_URL unset: started an embedded Postgres on port ${pg.port} (${Date.now() - started} ms, data in ${dataDir})`,
      );
    }
    return {
      redisUrl,
      databaseUrl,
      async stop() {
        await Promise.all(stops.map((s) => s()));
      },
    };
  } catch (error) {
    await Promise.allSettled(stops.map((s) => s()));
    throw error;
  }
}
