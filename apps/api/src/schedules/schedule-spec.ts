import type { ScheduleJobOptions, ScheduleRow } from '@conveyor/core/db';
import { ConveyorError, type FieldIssue } from '@conveyor/core/errors';
import { type CreateScheduleBody, cronIssues, type UpdateScheduleBody } from '@conveyor/core/schedules';
import { optionBoundIssues, requireJobType } from '../job-types/job-type-checks.js';
import type { JobTypeRegistry } from '../job-types/job-type-registry.js';

/** Everything a schedule row holds that a client sets. */
export interface ScheduleSpec {
  name: string | null;
  type: string;
  data: unknown;
  cron: string | null;
  tz: string | null;
  everyMs: number | null;
  startAt: Date | null;
  endAt: Date | null;
  runLimit: number | null;
  paused: boolean;
  jobOptions: ScheduleJobOptions;
}

const JOB_OPTION_KEYS = ['priority', 'attempts', 'timeoutMs', 'ttlMs', 'metadata', 'callbackUrl'] as const;
const date = (iso: string | null | undefined) => (iso ? new Date(iso) : null);

/** The spec a POST /v1/schedules body asks for; a cron pattern without tz is read in UTC. */
export function specFromCreate(body: CreateScheduleBody): ScheduleSpec {
  const jobOptions: ScheduleJobOptions = {};
  for (const key of JOB_OPTION_KEYS) {
    if (body[key] !== undefined) Object.assign(jobOptions, { [key]: body[key] });
  }
  return {
    name: body.name ?? null,
    type: body.type,
    data: body.data,
    cron: body.cron ?? null,
    tz: body.cron === undefined ? (body.tz ?? null) : (body.tz ?? 'UTC'),
    everyMs: body.everyMs ?? null,
    startAt: date(body.startAt),
    endAt: date(body.endAt),
    runLimit: body.limit ?? null,
    paused: body.paused ?? false,
    jobOptions,
  };
}

/**
 * The spec after a PATCH: an absent field keeps its value, null clears it, and setting one
 * kind of timing (cron or everyMs) drops the other.
 */
export function specFromUpdate(row: ScheduleRow, body: UpdateScheduleBody): ScheduleSpec {
  const keep = <T>(given: T | null | undefined, current: T | null): T | null =>
    given === undefined ? current : given;
  const cron = body.cron ?? (body.everyMs === undefined ? row.cron : null);
  const everyMs = body.everyMs ?? (body.cron === undefined ? row.everyMs : null);
  const tz =
    cron === null ? (body.tz ?? null) : body.tz === undefined ? (row.tz ?? 'UTC') : (body.tz ?? 'UTC');
  const jobOptions: ScheduleJobOptions = { ...row.jobOptions };
  for (const key of JOB_OPTION_KEYS) {
    const value = body[key];
    if (value === null) delete jobOptions[key];
    else if (value !== undefined) Object.assign(jobOptions, { [key]: value });
  }
  return {
    name: keep(body.name, row.name),
    type: body.type ?? row.type,
    data: body.data === undefined ? row.data : body.data,
    cron,
    tz,
    everyMs,
    startAt: body.startAt === undefined ? row.startAt : date(body.startAt),
    endAt: body.endAt === undefined ? row.endAt : date(body.endAt),
    runLimit: keep(body.limit, row.runLimit),
    paused: body.paused ?? row.paused,
    jobOptions,
  };
}

/**
 * Checks a whole spec, naming every bad field (the cron pattern and the time zone
 * separately), and returns its data (the worker parses it with the type's own schema).
 * `endAt` in the past is refused only when the timing is being set.
 */
export function checkSpec(
  registry: JobTypeRegistry,
  spec: ScheduleSpec,
  { timingChanged }: { timingChanged: boolean },
): unknown {
  const definition = requireJobType(registry, spec.type);
  const issues: FieldIssue[] = registry.validate(definition, spec.data);
  if (spec.cron !== null && spec.everyMs !== null) {
    issues.push({ path: 'everyMs', message: 'give either cron or everyMs, not both' });
  } else if (spec.cron === null && spec.everyMs === null) {
    issues.push({ path: 'cron', message: 'give a cron pattern (with tz) or everyMs' });
  }
  if (spec.cron === null && spec.tz !== null)
    issues.push({ path: 'tz', message: 'applies only to a cron pattern' });
  if (spec.cron !== null) issues.push(...cronIssues(spec.cron, spec.tz ?? 'UTC'));
  if (spec.startAt && spec.endAt && spec.endAt <= spec.startAt) {
    issues.push({ path: 'endAt', message: 'must be after startAt' });
  }
  if (timingChanged && spec.endAt && spec.endAt.getTime() <= Date.now()) {
    issues.push({ path: 'endAt', message: 'is in the past' });
  }
  issues.push(...optionBoundIssues(definition, spec.jobOptions));
  if (issues.length > 0) {
    const summary = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
    throw new ConveyorError('VALIDATION_FAILED', `invalid schedule: ${summary}`, { issues });
  }
  return spec.data ?? null;
}
