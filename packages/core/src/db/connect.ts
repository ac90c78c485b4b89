import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { withTimeout } from '../errors/with-timeout.js';
import * as schema from './schema.js';

/** Drizzle over postgres.js; `$client` is the postgres.js pool underneath. */
export type Db = PostgresJsDatabase<typeof schema> & { $client: postgres.Sql };

export interface Database {
  db: Db;
  /** The raw postgres.js client, for what Drizzle does not express. */
  sql: postgres.Sql;
  /** Pings the server; rejects when it does not answer within `timeoutMs`. */
  ping(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** @defaultValue 10 */
  max?: number;
  /** Seconds to wait for a connection. @defaultValue 5 */
  connectTimeoutSeconds?: number;
  /** Name shown in pg_stat_activity. @defaultValue 'conveyor' */
  applicationName?: string;
  /** Sees the text of every query sent (postgres.js `debug`), e.g. for a test to count them. */
  onQuery?: (query: string) => void;
}

/**
 * Opens a postgres.js pool wrapped in Drizzle (snake_case columns). Nothing connects until
 * the first query.
 */
export function createDatabase(url: string, options: DatabaseOptions = {}): Database {
  const { max = 10, connectTimeoutSeconds = 5, applicationName = 'conveyor', onQuery } = options;
  const client = postgres(url, {
    max,
    connect_timeout: connectTimeoutSeconds,
    idle_timeout: 30,
    onnotice: () => {},
    connection: { application_name: applicationName },
    ...(onQuery ? { debug: (_connection: number, query: string) => onQuery(query) } : {}),
  });
  const db = drizzle({ client, schema, casing: 'snake_case' });
  return {
    db,
    sql: client,
    async ping(timeoutMs = 2_000) {
      await withTimeout(client`select 1`.execute(), timeoutMs, 'Postgres');
    },
    async close() {
      await client.end({ timeout: 5 });
    },
  };
}
