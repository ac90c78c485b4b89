import { randomUUID } from 'node:crypto';
import {
  createDatabase,
  type Database,
  flows,
  jobs,
  type NewJobRow,
  upsertTerminalRows,
  webhookDeliveries,
} from '@conveyor/core/db';
import { createLogger } from '@conveyor/core/log';
import { useTestServices } from '@conveyor/dev/testing';
import { inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHistoryPruner } from './history-pruner.js';

const services = useTestServices();
let database: Database;
beforeAll(() => {
  database = createDatabase(services.databaseUrl);
});
afterAll(() => database.close());

const DAY = 86_400_000;
function finishedDaysAgo(days: number, now: Date): NewJobRow {
  const at = new Date(now.getTime() - days * DAY);
  return {
    id: randomUUID(),
    type: 'noop',
    queue: 'default',
    status: 'completed',
    attempts: 1,
    maxAttempts: 1,
    createdAt: at,
    finishedAt: at,
  };
}

describe('history pruner', () => {
  it('removes only rows older than the retention window, with several pruners running at once', async () => {
    const now = new Date();
    const old = [40, 31, 30.01].map((d) => finishedDaysAgo(d, now));
    const recent = [29.99, 5, 0].map((d) => finishedDaysAgo(d, now));
    await upsertTerminalRows(database.db, [...old, ...recent]);
    const logger = createLogger({ name: 'test', level: 'silent' });
    const pruners = [1, 2, 3].map(() =>
      startHistoryPruner({ database, logger, retentionDays: 30, intervalMs: 3_600_000 }),
    );
    const results = await Promise.all(pruners.map((pruner) => pruner.runOnce(now)));
    for (const pruner of pruners) pruner.close();
    // Whoever held the lock deleted; the others stepped aside (null) or found nothing left.
    expect(results.reduce<number>((sum, r) => sum + (r ?? 0), 0)).toBe(3);
    const left = await database.db
      .select({ id: jobs.id })
      .from(jobs)
      .where(
        inArray(
          jobs.id,
          [...old, ...recent].map((r) => r.id),
        ),
      );
    expect(left.map((r) => r.id).sort()).toEqual(recent.map((r) => r.id).sort());
  });

  it("prunes a tenant's old job without touching another tenant's recent job of the same id", async () => {
    const now = new Date();
    const id = randomUUID();
    const old = { ...finishedDaysAgo(31, now), id, tenant: 'acme' };
    const recent = { ...finishedDaysAgo(1, now), id, tenant: 'globex' };
    await upsertTerminalRows(database.db, [old, recent]);
    const logger = createLogger({ name: 'test', level: 'silent' });
    const pruner = startHistoryPruner({ database, logger, retentionDays: 30 });
    expect(await pruner.runOnce(now)).toBe(1);
    pruner.close();
    const left = await database.db
      .select({ tenant: jobs.tenant })
      .from(jobs)
      .where(inArray(jobs.id, [id]));
    expect(left).toEqual([{ tenant: 'globex' }]);
  });

  it('removes webhook deliveries older than the retention window too', async () => {
    const now = new Date();
    const delivery = (days: number) => ({
      id: randomUUID(),
      tenant: 'default',
      jobId: randomUUID(),
      url: 'https://example.com/hook',
      event: {},
      status: 'delivered' as const,
      createdAt: new Date(now.getTime() - days * DAY),
    });
    const [old, recent] = [delivery(31), delivery(1)];
    await database.db.insert(webhookDeliveries).values([old, recent]);
    const logger = createLogger({ name: 'test', level: 'silent' });
    const pruner = startHistoryPruner({ database, logger, retentionDays: 30 });
    await pruner.runOnce(now);
    pruner.close();
    const left = await database.db
      .select({ id: webhookDeliveries.id })
      .from(webhookDeliveries)
      .where(inArray(webhookDeliveries.id, [old.id, recent.id]));
    expect(left.map((r) => r.id)).toEqual([recent.id]);
  });

  it('removes flows older than the retention window too', async () => {
    const now = new Date();
    const flow = (days: number) => ({
      id: randomUUID(),
      tenant: 'default',
      nodes: [],
      requestHash: 'h',
      createdAt: new Date(now.getTime() - days * DAY),
    });
    const [old, recent] = [flow(31), flow(1)];
    await database.db.insert(flows).values([old, recent]);
    const logger = createLogger({ name: 'test', level: 'silent' });
    const pruner = startHistoryPruner({ database, logger, retentionDays: 30 });
    await pruner.runOnce(now);
    pruner.close();
    const left = await database.db
      .select({ id: flows.id })
      .from(flows)
      .where(inArray(flows.id, [old.id, recent.id]));
    expect(left.map((r) => r.id)).toEqual([recent.id]);
  });
});
