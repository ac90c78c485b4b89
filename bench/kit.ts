/** What every benchmark scenario shares: sizes, statistics, child processes, and the system under test. */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Queue } from 'bullmq';
import type postgres from 'postgres';

export const root = fileURLToPath(new URL('..', import.meta.url));

export interface BenchSize {
  /** Repetitions of each measurement; the median is reported. */
  reps: number;
  /** Seconds of each HTTP load run. */
  seconds: number;
  /** Concurrent HTTP connections of the ingest load. */
  connections: number;
  /** Batches of 1,000 per batch-ingest run. */
  batches: number;
  /** Pre-enqueued jobs per drain run. */
  drain: number;
  /** Jobs at once in the drain's worker, the same for the baseline and Conveyor. */
  concurrency: number;
  /** Offered jobs per second and seconds of the end-to-end run. */
  e2eRate: number;
  e2eSeconds: number;
  /** Jobs after which the worker's RSS is compared. */
  memory: readonly [number, number];
  /** Status events of each event-log run (to one tenant, then over 10). */
  eventLog: number;
}

export const sizes: Record<'full' | 'smoke', BenchSize> = {
  full: {
    reps: 3,
    seconds: 5,
    connections: 50,
    batches: 20,
    drain: 50_000,
    concurrency: Number(process.env.BENCH_CONCURRENCY ?? 64),
    e2eRate: 1_000,
    e2eSeconds: 10,
    memory: [100_000, 500_000],
    eventLog: 1_000_000,
  },
  smoke: {
    reps: 1,
    seconds: 1,
    connections: 10,
    batches: 2,
    drain: 2_000,
    concurrency: 16,
    e2eRate: 200,
    e2eSeconds: 2,
    memory: [2_000, 6_000],
    eventLog: 20_000,
  },
};

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

export const percentile = (xs: number[], p: number): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] ?? 0;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it holds; throws naming `what` after `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(25);
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms`);
}

/** Child processes of the run: started with the run's environment, all stopped at the end. */
export class Processes {
  readonly #children = new Set<ChildProcess>();
  readonly #env: Record<string, string | undefined>;
  constructor(env: Record<string, string | undefined>) {
    this.#env = env;
  }

  start(args: string[], extra: Record<string, string> = {}): ChildProcess {
    const child = spawn(process.execPath, args, {
      cwd: root,
      env: { ...this.#env, ...extra },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    return child;
  }

  /** SIGTERM, then waits for the exit (a process that already exited returns at once). */
  async stop(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.#children].map((c) => this.stop(c)));
  }
}

/** The Conveyor API under test, the queue it feeds, and the database its workers write. */
export interface Bench {
  size: BenchSize;
  processes: Processes;
  apiUrl: string;
  /** Headers with the run's admin key. */
  auth: Record<string, string>;
  /** The `default` queue, on the run's prefix. */
  queue: Queue;
  sql: postgres.Sql;
  /** Empties the queue and the jobs table between measurements. */
  reset(): Promise<void>;
  /** Enqueues `n` noop jobs through POST /v1/jobs/batch. */
  fill(n: number): Promise<void>;
  /** Jobs waiting or running. */
  backlog(): Promise<number>;
  /** Terminal rows in Postgres. */
  rows(): Promise<number>;
  /** Starts a Conveyor worker process. */
  startWorker(extra?: Record<string, string>): Promise<ChildProcess>;
}

/** One scenario's figures, by name. */
export type Figures = Record<string, number>;

/** POSTs JSON and fails the run unless the answer has `expected` status. */
export async function post(url: string, headers: Record<string, string>, body: unknown, expected = 202) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (response.status !== expected) {
    throw new Error(`POST ${url} answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
  }
  return response;
}
