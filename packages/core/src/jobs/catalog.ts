/**
 * The job catalog: every job type Conveyor runs, declared once and shared by the API,
 * the worker and the client.
 *
 * Terminology
 * - job type: a named kind of work with an input schema and run options (`defineJob`).
 * - job: one submitted unit of work of a type, identified by a UUID.
 * - queue: the BullMQ queue a type's jobs wait in; a worker process serves some queues.
 * - attempt: one execution of a job's handler; failed attempts are retried with backoff
 *   until the type's (or the submit's) attempts are used up.
 * - handler: the function in apps/worker that runs one attempt.
 * - terminal status: completed, failed, cancelled or expired; the job's row in Postgres
 *   is written with it before the job is acknowledged to BullMQ.
 */
import type * as v from 'valibot';
import { echo, httpRequest, noop, sleep } from './builtins.js';
import type { JobDefinition } from './define-job.js';
import { testingJobs } from './testing.js';

/** The built-in job types. Add a type: define it in its own file and add one line here. */
export const jobCatalog = {
  noop,
  echo,
  sleep,
  'http.request': httpRequest,
} as const;

export type JobCatalog = typeof jobCatalog;
/** The name of a catalog job type. */
export type JobType = keyof JobCatalog;
/** The parsed input a handler of type T receives. */
export type JobInput<T extends JobType> = v.InferOutput<JobCatalog[T]['input']>;
/** The input a client sends for type T (before defaults are applied). */
export type JobSubmitInput<T extends JobType> = v.InferInput<JobCatalog[T]['input']>;

export type TestingJobType = keyof typeof testingJobs;
export type TestingJobInput<T extends TestingJobType> = v.InferOutput<(typeof testingJobs)[T]['input']>;

/** The job types known to one process: the catalog, plus the testing types when asked. */
export interface JobRegistry {
  get(name: string): JobDefinition | undefined;
  names(): string[];
  /** Every queue some registered type uses, sorted. */
  queues(): string[];
  definitions(): readonly JobDefinition[];
}

/**
 * Builds the registry of one process: the built-ins, the testing types when asked, and
 * `jobs`, a project's own definitions. Two definitions of one name are a start-up error.
 */
export function createJobRegistry({
  testing = false,
  jobs = [],
}: {
  testing?: boolean;
  /** More job types to run (a team's own). @defaultValue none */
  jobs?: readonly JobDefinition[];
} = {}): JobRegistry {
  const defs: JobDefinition[] = [
    ...Object.values(jobCatalog),
    ...(testing ? Object.values(testingJobs) : []),
    ...jobs,
  ];
  const byName = new Map<string, JobDefinition>();
  for (const d of defs) {
    if (byName.has(d.name)) throw new Error(`job type "${d.name}" is defined twice`);
    byName.set(d.name, d);
  }
  const queues = [...new Set(defs.map((d) => d.queue))].sort();
  const names = [...byName.keys()].sort();
  return {
    get: (name) => byName.get(name),
    names: () => names,
    queues: () => queues,
    definitions: () => defs,
  };
}
