import { randomUUID } from 'node:crypto';
import { type Database, type ScheduleRow, schedules } from '@conveyor/core/db';
import { ConveyorError, parseOrThrow } from '@conveyor/core/errors';
import type { Logger } from '@conveyor/core/log';
import type { AddressGuard } from '@conveyor/core/net';
import {
  createScheduleBody,
  createSchedulerSync,
  type ScheduleView,
  type TickData,
  updateScheduleBody,
} from '@conveyor/core/schedules';
import { and, asc, eq, gt, or, sql } from 'drizzle-orm';
import * as v from 'valibot';
import type { JobTypeRegistry } from '../job-types/job-type-registry.js';
import { orUnavailable } from '../jobs/unavailable.js';
import { decodeKeysetCursor, keysetPage } from '../keyset-cursor.js';
import { cursorParam, limitParam, type Page } from '../pagination.js';
import type { QueueSet } from '../queues.js';
import { resourceId } from '../resource-id.js';
import { assertDeliveryTarget } from '../webhooks/delivery-target.js';
import { checkSpec, specFromCreate, specFromUpdate } from './schedule-spec.js';
import { createScheduleViews } from './schedule-view.js';

/** Query of GET /v1/schedules: oldest first, keyset pagination. */
export const listSchedulesQuery = v.strictObject({
  limit: limitParam('Schedules', 200),
  cursor: cursorParam(200),
});

/** One page of GET /v1/schedules. */
export type SchedulePage = Page<ScheduleView>;

export interface ScheduleService {
  create(tenant: string, body: unknown): Promise<ScheduleView>;
  list(tenant: string, query: Record<string, string>): Promise<SchedulePage>;
  get(tenant: string, id: string): Promise<ScheduleView>;
  update(tenant: string, id: string, body: unknown): Promise<ScheduleView>;
  remove(tenant: string, id: string): Promise<void>;
}

export interface ScheduleServiceDeps {
  registry: JobTypeRegistry;
  database: Database;
  queues: QueueSet;
  logger: Logger;
  /** The workers' outbound guard: a callbackUrl it always refuses is a 400. */
  guard: AddressGuard;
}

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
  guard,
}: ScheduleServiceDeps): ScheduleService {
  const sync = createSchedulerSync({ database, queue: queues.internal<TickData>('schedules') });
  const view = createScheduleViews({ registry, database, queues });

  function notFound(id: string): ConveyorError {
    return new ConveyorError('SCHEDULE_NOT_FOUND', `no schedule with id ${id}`);
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
    id = resourceId('schedule', id);
    const row = await orUnavailable('Postgres', () =>
      database.db.query.schedules.findFirst({
        where: and(eq(schedules.id, id), eq(schedules.tenant, tenant)),
      }),
    );
    if (!row) throw notFound(id);
    return row;
  }

  return {
    async create(tenant, raw) {
      const body = parseOrThrow(createScheduleBody, raw);
      const spec = specFromCreate(body);
      await registry.lookup(spec.type);
      const data = checkSpec(registry, spec, { timingChanged: true });
      assertDeliveryTarget(guard, spec.jobOptions.callbackUrl, 'callbackUrl', 'schedule');
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
      const query = parseOrThrow(listSchedulesQuery, rawQuery);
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
      const page = keysetPage(rows, query.limit);
      return { items: await Promise.all(page.rows.map((row) => view(row))), nextCursor: page.nextCursor };
    },

    async get(tenant, id) {
      return view(await readRow(tenant, id), { withRuns: true });
    },

    async update(tenant, id, raw) {
      const body = parseOrThrow(updateScheduleBody, raw);
      const row = await readRow(tenant, id);
      const spec = specFromUpdate(row, body);
      const timingChanged = body.cron !== undefined || body.everyMs !== undefined || body.endAt !== undefined;
      await registry.lookup(spec.type);
      const data = checkSpec(registry, spec, { timingChanged });
      assertDeliveryTarget(guard, spec.jobOptions.callbackUrl, 'callbackUrl', 'schedule');
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
      id = resourceId('schedule', id);
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
