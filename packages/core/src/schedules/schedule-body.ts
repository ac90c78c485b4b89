import * as v from 'valibot';
import { callbackUrlSchema, MAX_PRIORITY, MAX_TTL_MS, metadataSchema } from '../jobs/submit.js';

const int = (min: number, max: number) => v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));
const isoTime = v.pipe(v.string(), v.isoTimestamp('must be an ISO 8601 timestamp with a time zone'));

/** Shortest interval of an `everyMs` schedule; use a 6-field cron for sub-minute patterns. */
export const MIN_EVERY_MS = 1_000;
/** Longest `everyMs` (what a Postgres integer holds, ~24.8 days); use cron beyond. */
export const MAX_EVERY_MS = 2_147_483_647;

const fields = {
  /** A label for people; not unique. */
  name: v.pipe(v.string(), v.minLength(1), v.maxLength(200)),
  /** The job type each run submits. */
  type: v.pipe(v.string(), v.minLength(1), v.maxLength(64)),
  /** Cron pattern: 5 fields (minute precision) or 6 (with seconds first). */
  cron: v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(200)),
  /** IANA time zone the cron pattern is read in. @defaultValue 'UTC' */
  tz: v.pipe(v.string(), v.minLength(1), v.maxLength(64)),
  /** Fixed interval between runs, in ms. */
  everyMs: int(MIN_EVERY_MS, MAX_EVERY_MS),
  /** No run before this time. */
  startAt: isoTime,
  /** No run after this time. */
  endAt: isoTime,
  /** Most runs in total. */
  limit: int(1, 1_000_000_000),
  priority: int(1, MAX_PRIORITY),
  attempts: int(1, 1_000),
  timeoutMs: int(1, 7 * 24 * 3_600_000),
  ttlMs: int(1, MAX_TTL_MS),
  callbackUrl: callbackUrlSchema,
};

/**
 * The body of POST /v1/schedules: the job each run submits (`type`, `data` and the job
 * options of POST /v1/jobs that make sense for a recurring job), and when it runs: a `cron`
 * pattern (with `tz`) or `everyMs`, optionally bounded by `startAt`, `endAt` and `limit`.
 */
export const createScheduleBody = v.strictObject({
  name: v.optional(fields.name),
  type: fields.type,
  data: v.optional(v.unknown()),
  cron: v.optional(fields.cron),
  tz: v.optional(fields.tz),
  everyMs: v.optional(fields.everyMs),
  startAt: v.optional(fields.startAt),
  endAt: v.optional(fields.endAt),
  limit: v.optional(fields.limit),
  paused: v.optional(v.boolean()),
  priority: v.optional(fields.priority),
  attempts: v.optional(fields.attempts),
  timeoutMs: v.optional(fields.timeoutMs),
  ttlMs: v.optional(fields.ttlMs),
  metadata: v.optional(metadataSchema()),
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
  data: v.optional(v.unknown()),
  cron: v.optional(fields.cron),
  tz: v.optional(v.nullable(fields.tz)),
  everyMs: v.optional(fields.everyMs),
  startAt: v.optional(v.nullable(fields.startAt)),
  endAt: v.optional(v.nullable(fields.endAt)),
  limit: v.optional(v.nullable(fields.limit)),
  paused: v.optional(v.boolean()),
  priority: v.optional(v.nullable(fields.priority)),
  attempts: v.optional(v.nullable(fields.attempts)),
  timeoutMs: v.optional(v.nullable(fields.timeoutMs)),
  ttlMs: v.optional(v.nullable(fields.ttlMs)),
  metadata: v.optional(v.nullable(metadataSchema())),
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
