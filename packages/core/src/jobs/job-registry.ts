/**
 * The job types one worker process runs: the definitions it was given (`runWorker({ jobs })`,
 * the stock worker's built-ins, a team's own), checked once at start.
 *
 * Terminology
 * - job type: a named kind of work with an input schema and run options (`defineJob` of
 *   @conveyor/sdk). Workers register their types in Postgres; the API validates against them.
 * - job: one submitted unit of work of a type, identified by an id within its tenant.
 * - queue: the BullMQ queue a type's jobs wait in; a worker process serves some queues.
 * - attempt: one execution of a job's handler; failed attempts are retried with backoff
 *   until the type's (or the submit's) attempts are used up.
 * - handler: the definition's `run`, which runs one attempt.
 * - terminal status: completed, failed, cancelled or expired; the job's row in Postgres
 *   is written with it before the job is acknowledged to BullMQ.
 */

import type { QueueLimitsDeclaration } from '@conveyor/sdk';
import { ConveyorError } from '../errors/index.js';
import { canonicalJson } from './canonical-json.js';
import type { JobDefinition } from './define-job.js';
import { jsonSchemaGaps } from './input-json-schema.js';

/** Job definitions as a project lists them: an array, or an object of definitions. */
export type JobDefinitions = readonly JobDefinition[] | Readonly<Record<string, JobDefinition>>;

/** The job types known to one process. */
export interface JobRegistry {
  get(name: string): JobDefinition | undefined;
  names(): string[];
  /** Every queue some registered type uses, sorted. */
  queues(): string[];
  definitions(): readonly JobDefinition[];
  /** The limits the types of `queue` declare (`defineJob({ queueLimits })`), if any. */
  declaredLimits(queue: string): QueueLimitsDeclaration | undefined;
}

/**
 * Builds the registry of one process from `jobs`. Start-up errors (CONFIG_INVALID): two
 * definitions of one name, two types of one queue declaring different queueLimits, and an input schema with a part JSON Schema cannot express
 * (the API validates submits against the JSON Schema form).
 */
export function createJobRegistry(jobs: JobDefinitions): JobRegistry {
  const defs: JobDefinition[] = Array.isArray(jobs) ? [...jobs] : Object.values(jobs);
  const byName = new Map<string, JobDefinition>();
  for (const d of defs) {
    if (byName.has(d.name))
      throw new ConveyorError('CONFIG_INVALID', `job type "${d.name}" is defined twice`);
    const gaps = jsonSchemaGaps(d.input);
    if (gaps.length > 0) {
      const where = gaps.map((g) => `${g.path}: ${g.message}`).join('; ');
      throw new ConveyorError(
        'CONFIG_INVALID',
        `job type "${d.name}": its input has no JSON Schema form, so the API cannot validate it (${where}). ` +
          'Take what JSON carries, e.g. an ISO date string (v.pipe(v.string(), v.isoTimestamp())) for a date, ' +
          'a string or number for a bigint, an object or array for a Map or Set; convert it in the handler.',
        { issues: gaps },
      );
    }
    byName.set(d.name, d);
  }
  // Limits belong to the queue: the types of one queue that declare them must agree.
  const declaring = new Map<string, JobDefinition>();
  for (const d of defs) {
    if (d.queueLimits === undefined) continue;
    const first = declaring.get(d.queue);
    if (!first) declaring.set(d.queue, d);
    else if (canonicalJson(first.queueLimits) !== canonicalJson(d.queueLimits)) {
      throw new ConveyorError(
        'CONFIG_INVALID',
        `job types "${first.name}" and "${d.name}" declare different queueLimits for queue "${d.queue}" ` +
          `(${canonicalJson(first.queueLimits)} and ${canonicalJson(d.queueLimits)}): limits belong to the queue, declare them alike or on one type`,
      );
    }
  }
  const queues = [...new Set(defs.map((d) => d.queue))].sort();
  const names = [...byName.keys()].sort();
  return {
    get: (name) => byName.get(name),
    names: () => names,
    queues: () => queues,
    definitions: () => defs,
    declaredLimits: (queue) => declaring.get(queue)?.queueLimits,
  };
}
