import { randomUUID } from 'node:crypto';
import { createDatabase, type Database, schedules } from '@conveyor/core/db';
import {
  createSchedulerSync,
  RECONCILE_LOCK_ID,
  SCHEDULE_LOCK_CLASS,
  type TickData,
} from '@conveyor/core/schedules';
import { useTestServices } from '@conveyor/dev/testing';
import { Queue } from 'bullmq';
import { eq } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const services = useTestServices();
let database: Database;
let redis: Redis;
let queue: Queue<TickData>;

beforeAll(() => {
  // A pool of one: reconciling must not wait for a second connection.
  database = createDatabase(services.databaseUrl, { max: 1 });
  redis = new Redis(services.redisUrl, { maxRetriesPerRequest: null });
  queue = new Queue<TickData>('schedules', { connection: redis, prefix: services.prefix });
});
afterAll(async () => {
  await queue.close();
  redis.disconnect();
  await database.close();
});

const row = (over: Partial<typeof schedules.$inferInsert> = {}) => ({
  id: randomUUID(),
  tenant: 'default',
  type: 'noop',
  cron: '0 0 1 1 *',
  tz: 'UTC',
  ...over,
});

describe('scheduler sync', () => {
  it('makes BullMQ match the table: active rows get a scheduler, paused and used-up ones and strays lose theirs', async () => {
    const active = row();
    const interval = row({ cron: null, tz: null, everyMs: 3_600_000 });
    const paused = row({ paused: true });
    const usedUp = row({ runLimit: 1, runCount: 1 });
    await database.db.insert(schedules).values([active, interval, paused, usedUp]);
    const stray = randomUUID();
    const template = { name: 'tick', data: { scheduleId: stray, tenant: 'default', revision: 1 } };
    await queue.upsertJobScheduler(stray, { every: 60_000 }, template);
    await queue.upsertJobScheduler(paused.id, { every: 60_000 }, template);

    const sync = createSchedulerSync({ database, queue });
    // Another process is reconciling: this one steps aside at once.
    const other = createDatabase(services.databaseUrl, { max: 1 });
    const held = await other.sql.reserve();
    await held`select pg_advisory_lock(${RECONCILE_LOCK_ID})`;
    expect(await sync.reconcileAll()).toBeNull();
    await held`select pg_advisory_unlock(${RECONCILE_LOCK_ID})`;
    held.release();
    await other.close();

    expect(await sync.reconcileAll()).toEqual({ upserted: 2, removed: 2, unchanged: 1, failed: 0 });
    const byId = new Map((await queue.getJobSchedulers()).map((s) => [s.key, s]));
    expect([...byId.keys()].sort()).toEqual([active.id, interval.id].sort());
    expect(byId.get(active.id)).toMatchObject({
      pattern: '0 0 1 1 *',
      tz: 'UTC',
      template: { data: { revision: 1 } },
    });
    expect(byId.get(interval.id)).toMatchObject({ every: 3_600_000 });

    // Nothing changed: nothing is written again.
    expect(await sync.reconcileAll()).toEqual({ upserted: 0, removed: 0, unchanged: 4, failed: 0 });
    // A new revision is written again; a deleted row's scheduler goes.
    await database.db
      .update(schedules)
      .set({ revision: 2, cron: '0 0 2 1 *' })
      .where(eq(schedules.id, active.id));
    await database.db.delete(schedules).where(eq(schedules.id, interval.id));
    expect(await sync.syncOne(active.id)).toBe('upserted');
    expect(await sync.syncOne(interval.id)).toBe('removed');
    expect((await queue.getJobSchedulers()).map((s) => [s.key, s.pattern])).toEqual([
      [active.id, '0 0 2 1 *'],
    ]);
  });

  it('gives up on one schedule within its lock timeout while another process holds its lock', async () => {
    const held = row();
    await database.db.insert(schedules).values(held);
    const other = createDatabase(services.databaseUrl, { max: 1 });
    try {
      await other.sql.begin(async (tx) => {
        await tx`select pg_advisory_xact_lock(${SCHEDULE_LOCK_CLASS}, hashtext(${held.id}))`;
        const t0 = Date.now();
        // 55P03 (lock_not_available): Postgres' answer when lock_timeout runs out.
        await expect(createSchedulerSync({ database, queue }).syncOne(held.id)).rejects.toMatchObject({
          cause: expect.objectContaining({ code: '55P03' }),
        });
        // Bounded (2 s), so an API request that syncs never waits on a stuck reconcile for long.
        expect(Date.now() - t0).toBeLessThan(4_000);
      });
    } finally {
      await other.close();
    }
  });
});
