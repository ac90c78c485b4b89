import { randomUUID } from 'node:crypto';
import { type Database, jobs, type ScheduleJobOptions, type ScheduleRow, schedules } from '@conveyor/core/db';
import { ConveyorError, type FieldIssue, parseOrThrow, toFieldIssues } from '@conveyor/core/errors';
import type { JobRegistry } from '@conveyor/core/jobs';
import type { Logger } from '@conveyor/core/log';
import {
  createScheduleBody,
  createSchedulerSync,
  cronIssues,
  isScheduleActive,
  nextRunTimes,
  type ScheduleRunView,
  type ScheduleView,
  type TickData,
  updateScheduleBody,
} from '@conveyor/core/schedules';
import type { JobState } from 'bullmq';
import { and, asc, eq, gt, inArray, or, sql } from 'drizzle-orm';
import * as v from 'valibot';
import { orUnavailable } from '../jobs/unavailable.js';
import { decodeKeysetCursor, encodeKeysetCursor } from '../keyset-cursor.js';
import type { QueueSet } from '../queues.js';

/** Next run times shown per schedule. */
const NEXT_RUNS = 5;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const listQuery = v.strictObject({
  limit: v.optional(
    v.pipe(
      v.string(),
      v.regex(/^\d+$/, 'must be an integer from 1 to 200'),
      v.transform(Number),
      v.minValue(1, 'must be an integer from 1 to 200'),
      v.maxValue(200, 'must be an integer from 1 to 200'),
    ),
    '50',
  ),
  cursor: v.optional(v.pipe(v.string(), v.maxLength(200))),
});

/** Everything a schedule row holds that a client sets. */
interface ScheduleSpec {
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

export interface ScheduleService {
  create(tenant: string, body: unknown): Promise<ScheduleView>;
  list(
    tenant: string,
    query: Record<string, string>,
  ): Promise<{ items: ScheduleView[]; nextCursor: string | null }>;
  get(tenant: string, id: string): Promise<ScheduleView>;
  update(tenant: string, id: string, body: unknown): Promise<ScheduleView>;
  remove(tenant: string, id: string): Promise<void>;
}

export interface ScheduleServiceDeps {
  registry: JobRegistry;
  database: Database;
  queues: QueueSet;
  logger: Logger;
}

const statusByState: Partial<Record<JobState | 'unknown', string>> = {
  waiting: 'queued',
  delayed: 'queued',
  prioritized: 'queued',
  'waiting-children': 'queued',
  active: 'active',
};

/**
 * Schedules of a tenant: every change is written to Postgres (the source of truth) first,
 * then that schedule's BullMQ job scheduler is brought in line. If Redis is down at that
 * moment the change still stands: workers reconcile every scheduler with its row at start
 * and every SCHEDULE_RECONCILE_INTERVAL_MS.
 */
export function createScheduleService({
  registry,
  database,
  queues,
  logger,
}: ScheduleServiceDeps): ScheduleService {
  const schedulerQueue = queues.internal<TickData>('schedules');
  const sync = createSchedulerSync({ database, queue: schedulerQueue });

  function notFound(id: string): ConveyorError {
    return new ConveyorError('NOT_FOUND', `no schedule with id ${id}`);
  }

  /** Checks a whole spec and returns its data as the type's schema parsed it. */
  function check(spec: ScheduleSpec, { timingChanged }: { timingChanged: boolean }): unknown {
    const definition = registry.get(spec.type);
    if (!definition) {
      const known = registry.names();
      throw new ConveyorError(
        'UNKNOWN_JOB_TYPE',
        `unknown job type "${spec.type}"; known types: ${known.join(', ')}`,
        {
          details: { knownTypes: known },
          issues: [{ path: 'type', message: `unknown job type; known types: ${known.join(', ')}` }],
        },
      );
    }
    const issues: FieldIssue[] = [];
    const data = v.safeParse(definition.input, spec.data);
    if (!data.success) issues.push(...toFieldIssues(data.issues, 'data'));
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
    const { attempts, timeoutMs } = spec.jobOptions;
    if (attempts !== undefined && attempts > definition.maxAttempts) {
      issues.push({ path: 'attempts', message: `at most ${definition.maxAttempts} for ${definition.name}` });
    }
    if (timeoutMs !== undefined && timeoutMs > definition.maxTimeoutMs) {
      issues.push({
        path: 'timeoutMs',
        message: `at most ${definition.maxTimeoutMs} for ${definition.name}`,
      });
    }
    if (issues.length > 0 || !data.success) {
      const summary = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
      throw new ConveyorError('VALIDATION_FAILED', `invalid schedule: ${summary}`, { issues });
    }
    return data.output ?? null;
  }

  /** Brings BullMQ in line now; when Redis is down, the workers' reconciler does it later. */
  async function syncNow(id: string): Promise<void> {
    try {
      queues.assertConnected();
      await sync.syncOne(id);
    } catch (error) {
      logger.warn({ err: error, scheduleId: id }, 'job scheduler not updated now; workers will reconcile it');
    }
  }

  async function readRow(tenant: string, id: string): Promise<ScheduleRow> {
    if (!UUID.test(id)) throw notFound(id);
    const row = await orUnavailable('Postgres', () =>
      database.db.query.schedules.findFirst({
        where: and(eq(schedules.id, id), eq(schedules.tenant, tenant)),
      }),
    );
    if (!row) throw notFound(id);
    return row;
  }

  async function intervalNext(row: ScheduleRow): Promise<number | undefined> {
    if (row.everyMs === null) return undefined;
    try {
      queues.assertConnected();
      return (await schedulerQueue.getJobScheduler(row.id))?.next ?? undefined;
    } catch {
      return undefined;
    }
  }

  async function lastRuns(row: ScheduleRow): Promise<ScheduleRunView[]> {
    const ids = row.recentRuns.map((r) => r.jobId);
    if (ids.length === 0) return [];
    const finished = await orUnavailable('Postgres', () =>
      database.db.select({ id: jobs.id, status: jobs.status }).from(jobs).where(inArray(jobs.id, ids)),
    );
    const statusOf = new Map<string, string>(finished.map((r) => [r.id, r.status]));
    const queue = queues.all().find((q) => q.name === registry.get(row.type)?.queue);
    await Promise.all(
      ids
        .filter((id) => !statusOf.has(id))
        .map(async (id) => {
          const state = await queue?.getJobState(id).catch(() => 'unknown' as const);
          statusOf.set(id, statusByState[state ?? 'unknown'] ?? 'unknown');
        }),
    );
    return row.recentRuns.map((run) => ({
      jobId: run.jobId,
      scheduledAt: run.at,
      status: statusOf.get(run.jobId) ?? 'unknown',
      links: { job: `/v1/jobs/${run.jobId}` },
    }));
  }

  async function view(row: ScheduleRow, { withRuns = false } = {}): Promise<ScheduleView> {
    const active = isScheduleActive(row);
    const next = active
      ? nextRunTimes(
          {
            cron: row.cron,
            tz: row.tz,
            everyMs: row.everyMs,
            startAt: row.startAt,
            endAt: row.endAt,
            limit: row.runLimit,
            runCount: row.runCount,
          },
          new Date(),
          NEXT_RUNS,
          await intervalNext(row),
        )
      : [];
    const o = row.jobOptions;
    return {
      id: row.id,
      name: row.name,
      type: row.type,
      data: row.data,
      cron: row.cron,
      tz: row.tz,
      everyMs: row.everyMs,
      startAt: row.startAt?.toISOString() ?? null,
      endAt: row.endAt?.toISOString() ?? null,
      limit: row.runLimit,
      paused: row.paused,
      priority: o.priority ?? null,
      attempts: o.attempts ?? null,
      timeoutMs: o.timeoutMs ?? null,
      ttlMs: o.ttlMs ?? null,
      metadata: o.metadata ?? null,
      callbackUrl: o.callbackUrl ?? null,
      state: row.paused ? 'paused' : active ? 'active' : 'finished',
      runCount: row.runCount,
      lastRunAt: row.lastRunAt?.toISOString() ?? null,
      nextRuns: next.map((d) => d.toISOString()),
      ...(withRuns ? { lastRuns: await lastRuns(row) } : {}),
      revision: row.revision,
      createdAt: row.createdAt.toISOString(),
      updatedAt: row.updatedAt.toISOString(),
      links: { self: `/v1/schedules/${row.id}` },
    };
  }

  const date = (iso: string | null | undefined) => (iso ? new Date(iso) : null);

  return {
    async create(tenant, raw) {
      const body = parseOrThrow(createScheduleBody, raw);
      const spec: ScheduleSpec = {
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
        jobOptions: pickJobOptions(body),
      };
      const data = check(spec, { timingChanged: true });
      const [row] = await orUnavailable('Postgres', () =>
        database.db
          .insert(schedules)
          .values({ id: randomUUID(), tenant, ...spec, data })
          .returning(),
      );
      if (!row) throw new ConveyorError('INTERNAL', 'schedule not stored');
      await syncNow(row.id);
      return view(row);
    },

    async list(tenant, rawQuery) {
      const query = parseOrThrow(listQuery, rawQuery);
      const after = query.cursor ? decodeKeysetCursor(query.cursor) : undefined;
      const rows = await orUnavailable('Postgres', () =>
        database.db
          .select()
          .from(schedules)
          .where(
            and(
              eq(schedules.tenant, tenant),
              after
                ? or(
                    gt(schedules.createdAt, after.t),
                    and(eq(schedules.createdAt, after.t), gt(schedules.id, after.i)),
                  )
                : undefined,
            ),
          )
          .orderBy(asc(schedules.createdAt), asc(schedules.id))
          .limit(query.limit + 1),
      );
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      return {
        items: await Promise.all(page.map((row) => view(row))),
        nextCursor: rows.length > query.limit && last ? encodeKeysetCursor(last.createdAt, last.id) : null,
      };
    },

    async get(tenant, id) {
      return view(await readRow(tenant, id), { withRuns: true });
    },

    async update(tenant, id, raw) {
      const body = parseOrThrow(updateScheduleBody, raw);
      const row = await readRow(tenant, id);
      // undefined keeps the current value, null clears it.
      const keep = <T>(given: T | null | undefined, current: T | null): T | null =>
        given === undefined ? current : given;
      // Setting one kind of timing drops the other.
      const cron = body.cron ?? (body.everyMs === undefined ? row.cron : null);
      const everyMs = body.everyMs ?? (body.cron === undefined ? row.everyMs : null);
      const tz =
        cron === null ? (body.tz ?? null) : body.tz === undefined ? (row.tz ?? 'UTC') : (body.tz ?? 'UTC');
      const options: ScheduleJobOptions = { ...row.jobOptions };
      for (const key of ['priority', 'attempts', 'timeoutMs', 'ttlMs', 'metadata', 'callbackUrl'] as const) {
        const value = body[key];
        if (value === null) delete options[key];
        else if (value !== undefined) Object.assign(options, { [key]: value });
      }
      const spec: ScheduleSpec = {
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
        jobOptions: options,
      };
      const timingChanged = body.cron !== undefined || body.everyMs !== undefined || body.endAt !== undefined;
      const data = check(spec, { timingChanged });
      const [updated] = await orUnavailable('Postgres', () =>
        database.db
          .update(schedules)
          .set({ ...spec, data, revision: sql`${schedules.revision} + 1`, updatedAt: new Date() })
          .where(and(eq(schedules.id, id), eq(schedules.tenant, tenant)))
          .returning(),
      );
      if (!updated) throw notFound(id);
      await syncNow(id);
      return view(updated);
    },

    async remove(tenant, id) {
      if (!UUID.test(id)) throw notFound(id);
      const deleted = await orUnavailable('Postgres', () =>
        database.db
          .delete(schedules)
          .where(and(eq(schedules.id, id), eq(schedules.tenant, tenant)))
          .returning({ id: schedules.id }),
      );
      if (deleted.length === 0) throw notFound(id);
      await syncNow(id);
    },
  };
}

function pickJobOptions(body: v.InferOutput<typeof createScheduleBody>): ScheduleJobOptions {
  const options: ScheduleJobOptions = {};
  for (const key of ['priority', 'attempts', 'timeoutMs', 'ttlMs', 'metadata', 'callbackUrl'] as const) {
    if (body[key] !== undefined) Object.assign(options, { [key]: body[key] });
  }
  return options;
}
