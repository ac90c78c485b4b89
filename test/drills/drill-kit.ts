import { freePort } from '@conveyor/dev';
import type postgres from 'postgres';
import { type AppProcess, authHeaders, startApp, stopApp, waitForOk } from '../processes.js';

/** Where a drill's processes find Redis and Postgres, and its BullMQ prefix. */
export interface DrillServices {
  redisUrl: string;
  /** A Redis Cluster's seeds (REDIS_CLUSTER_NODES) instead of redisUrl. */
  redisClusterNodes?: string;
  databaseUrl: string;
  prefix: string;
}

/** Job count of the drills: small in CI, DRILL_JOBS=20000 for the full run. */
export const DRILL_JOBS = Number(process.env.DRILL_JOBS ?? 2_000);

/** Lock timing short enough for stalled jobs to move within a test. */
export const FAST_LOCKS = { WORKER_LOCK_DURATION_MS: '1500', WORKER_STALLED_INTERVAL_MS: '1000' };

function env(services: DrillServices, extra: Record<string, string>): Record<string, string> {
  return {
    ...(services.redisClusterNodes
      ? { REDIS_URL: '', REDIS_CLUSTER_NODES: services.redisClusterNodes }
      : { REDIS_URL: services.redisUrl }),
    DATABASE_URL: services.databaseUrl,
    QUEUE_PREFIX: services.prefix,
    RATE_LIMIT_PER_SECOND: '0',
    ...extra,
  };
}

/** Starts an API process and waits until it is live (not necessarily ready). */
export async function startApi(services: DrillServices, extra: Record<string, string> = {}) {
  const port = await freePort();
  const process = startApp('api', env(services, { PORT: String(port), HOST: '127.0.0.1', ...extra }));
  const url = `http://127.0.0.1:${port}`;
  await waitForOk(`${url}/health/live`);
  return { process, url };
}

/** Starts a worker process (the test worker, or another of processes.ts) and waits until its health endpoint answers. */
export async function startWorker(
  services: DrillServices,
  extra: Record<string, string> = {},
  app: 'worker' | 'partner-worker' = 'worker',
): Promise<AppProcess> {
  const port = extra.WORKER_PORT === undefined ? await freePort() : Number(extra.WORKER_PORT);
  const worker = startApp(app, env(services, { ...extra, WORKER_PORT: String(port) }));
  await waitForOk(`http://127.0.0.1:${port}/health/live`);
  return worker;
}

/** Submits `count` copies of `job` through POST /v1/jobs/batch; returns the ids answered 202. */
export async function submitMany(api: string, count: number, job: (i: number) => unknown): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < count; start += 1_000) {
    const jobs = Array.from({ length: Math.min(1_000, count - start) }, (_, i) => job(start + i));
    const response = await fetch(`${api}/v1/jobs/batch`, {
      method: 'POST',
      headers: authHeaders({ 'content-type': 'application/json' }),
      body: JSON.stringify({ jobs }),
    });
    if (response.status !== 202)
      throw new Error(`batch answered ${response.status}: ${await response.text()}`);
    const { items } = (await response.json()) as { items: { id: string; outcome: string }[] };
    ids.push(...items.filter((i) => i.outcome === 'enqueued').map((i) => i.id));
  }
  return ids;
}

export interface JobRecord {
  id: string;
  status: string;
  runs: number;
  error: { code: string; message: string } | null;
}

/** The terminal rows of `ids` (one query, however many ids). */
export async function rowsOf(sql: postgres.Sql, ids: string[]): Promise<JobRecord[]> {
  return sql<JobRecord[]>`select id, status, runs, error from jobs where id = any(${ids}::uuid[])`;
}

/** Polls until every id has its terminal row; returns the rows. */
export async function waitForRows(sql: postgres.Sql, ids: string[], timeoutMs: number): Promise<JobRecord[]> {
  const deadline = Date.now() + timeoutMs;
  let rows: JobRecord[] = [];
  while (Date.now() < deadline) {
    rows = await rowsOf(sql, ids);
    if (rows.length >= ids.length) return rows;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(
    `${ids.length - rows.length} of ${ids.length} jobs have no terminal row after ${timeoutMs} ms`,
  );
}

/** Every row is `completed`; otherwise the error names how many ended otherwise, and why. */
export function assertAllCompleted(rows: JobRecord[]): void {
  const other = rows.filter((r) => r.status !== 'completed');
  if (other.length === 0) return;
  const reasons = [...new Set(other.map((r) => `${r.status} ${r.error?.code}: ${r.error?.message}`))];
  throw new Error(
    `${other.length} of ${rows.length} jobs did not complete: ${reasons.slice(0, 5).join('; ')}`,
  );
}

/** Every accepted job has exactly one terminal row, none is missing, none extra. */
export function assertExactlyOnce(ids: string[], rows: JobRecord[]): void {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const missing = ids.filter((id) => !byId.has(id));
  if (missing.length > 0) throw new Error(`${missing.length} accepted jobs have no row, e.g. ${missing[0]}`);
  if (rows.length !== new Set(ids).size) throw new Error(`${rows.length} rows for ${ids.length} jobs`);
}

export type { AppProcess };
export { stopApp };
