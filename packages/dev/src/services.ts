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
  /** Keep the embedded Postgres data between runs. @defaultValue false */
  persistent?: boolean;
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
      const redis = await startRedisServer();
      stops.push(redis.stop);
      redisUrl = redis.url;
      log(`REDIS_URL unset: started a private redis-server on port ${redis.port}`);
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
