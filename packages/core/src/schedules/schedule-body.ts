import * as v from 'valibot';
import { jobFields } from '../jobs/submit.js';

const int = (min: number, max: number) => v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));
const isoTime = v.pipe(v.string(), v.isoTimestamp('must be an ISO 8601 timestamp with a time zone'));

/** Shortest interval of an `everyMs` schedule; use a 6-field cron for sub-minute patterns. */
export const MIN_EVERY_MS = 1_000;
/** Longest `everyMs` (what a Postgres integer holds, ~24.8 days); use cron beyond. */
export const MAX_EVERY_MS = 2_147_483_647;

const described = <S extends v.GenericSchema>(schema: S, text: string) => v.pipe(schema, v.description(text));

const fields = {
  name: described(v.pipe(v.string(), v.minLength(1), v.maxLength(200)), 'A label for people; not unique.'),
  type: described(jobFields.type, 'The job type each run submits (GET /v1/job-types).'),
  data: described(
    v.unknown(),
    "Each run's job input; validated against the type's schema (`JobInput.<type>`).",
  ),
  cron: described(
    v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(200)),
    'Cron pattern: 5 fields (minute precision) or 6 (seconds first). Not with everyMs.',
  ),
  tz: described(
    v.pipe(v.string(), v.minLength(1), v.maxLength(64)),
    'IANA time zone the cron pattern is read in; UTC when absent.',
  ),
  everyMs: described(
    int(MIN_EVERY_MS, MAX_EVERY_MS),
    `Fixed interval between runs, in ms (at least ${MIN_EVERY_MS}). Not with cron.`,
  ),
  startAt: described(isoTime, 'No run before this time.'),
  endAt: described(isoTime, 'No run after this time.'),
  limit: described(int(1, 1_000_000_000), 'Most runs in total.'),
  paused: described(v.boolean(), 'A paused schedule keeps its place but submits nothing.'),
  priority: described(jobFields.priority, 'Priority of each run, as on POST /v1/jobs.'),
  attempts: described(jobFields.attempts, "Overrides the type's attempts for each run."),
  timeoutMs: described(jobFields.timeoutMs, "Overrides the type's timeout per attempt."),
  ttlMs: described(jobFields.ttlMs, 'A run not started this many ms after it was due ends `expired`.'),
  callbackUrl: described(jobFields.callbackUrl, "POST each run's terminal status event here."),
};
const metadata = () =>
  described(jobFields.metadata(), 'Free-form client data kept with each run (at most 64 keys).');

/**
 * The body of POST /v1/schedules: the job each run submits (`type`, `data` and the job
 * options of POST /v1/jobs that make sense for a recurring job), and when it runs: a `cron`
 * pattern (with `tz`) or `everyMs`, optionally bounded by `startAt`, `endAt` and `limit`.
 */
export const createScheduleBody = v.strictObject({
  name: v.optional(fields.name),
  type: fields.type,
  data: v.optional(fields.data),
  cron: v.optional(fields.cron),
  tz: v.optional(fields.tz),
  everyMs: v.optional(fields.everyMs),
  startAt: v.optional(fields.startAt),
  endAt: v.optional(fields.endAt),
  limit: v.optional(fields.limit),
  paused: v.optional(fields.paused),
  priority: v.optional(fields.priority),
  attempts: v.optional(fields.attempts),
  timeoutMs: v.optional(fields.timeoutMs),
  ttlMs: v.optional(fields.ttlMs),
  metadata: v.optional(metadata()),
  callbackUrl: v.optional(fields.callbackUrl),
});
export type CreateScheduleBody = v.InferOutput<typeof createScheduleBody>;

/**
 * The body of PATCH /v1/schedules/:id: any field of the create body; `null` clears an
 * optional one. Setting `cron` drops `everyMs` and the other way round.
 */
export const updateScheduleBody = v.strictObject({
  name: v.optional(v.nullable(fields.name)),
  type: v.optional(fields.type),
  data: v.optional(fields.data),
  cron: v.optional(fields.cron),
  tz: v.optional(v.nullable(fields.tz)),
  everyMs: v.optional(fields.everyMs),
  startAt: v.optional(v.nullable(fields.startAt)),
  endAt: v.optional(v.nullable(fields.endAt)),
  limit: v.optional(v.nullable(fields.limit)),
  paused: v.optional(fields.paused),
  priority: v.optional(v.nullable(fields.priority)),
  attempts: v.optional(v.nullable(fields.attempts)),
  timeoutMs: v.optional(v.nullable(fields.timeoutMs)),
  ttlMs: v.optional(v.nullable(fields.ttlMs)),
  metadata: v.optional(v.nullable(metadata())),
  callbackUrl: v.optional(v.nullable(fields.callbackUrl)),
});
export type UpdateScheduleBody = v.InferOutput<typeof updateScheduleBody>;

/** One run of a schedule as GET /v1/schedules/:id shows it. */
export interface ScheduleRunView {
  jobId: string;
  /** When the run was due. */
  scheduledAt: string;
  /** The job's status now; `unknown` once its history was pruned. */
  status: string;
  links: { job: string };
}

/** A schedule as the API shows it. */
export interface ScheduleView {
  id: string;
  name: string | null;
  type: string;
  data: unknown;
  cron: string | null;
  tz: string | null;
  everyMs: number | null;
  startAt: string | null;
  endAt: string | null;
  limit: number | null;
  paused: boolean;
  priority: number | null;
  attempts: number | null;
  timeoutMs: number | null;
  ttlMs: number | null;
  metadata: Record<string, unknown> | null;
  callbackUrl: string | null;
  /** `active`, `paused`, or `finished` (its limit or endAt is reached: it runs no more). */
  state: 'active' | 'paused' | 'finished';
  runCount: number;
  lastRunAt: string | null;
  /** The next times it will run (up to 5); empty unless active. */
  nextRuns: string[];
  /** The latest runs, newest first (GET /v1/schedules/:id only). */
  lastRuns?: ScheduleRunView[];
  revision: number;
  createdAt: string;
  updatedAt: string;
  links: { self: string };
}
