import { randomUUID } from 'node:crypto';
import { createDatabase, type Database, jobs, type NewJobRow, upsertTerminalRows } from '@conveyor/core/db';
import { useTestServices } from '@conveyor/dev/testing';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBatcher } from './batcher.js';
import { createResultWriter } from './result-writer.js';

const services = useTestServices();
let database: Database;

beforeAll(() => {
  database = createDatabase(services.databaseUrl);
});
afterAll(() => database.close());

function row(overrides: Partial<NewJobRow> = {}): NewJobRow {
  const now = new Date();
  return {
    id: randomUUID(),
    tenant: 'default',
    type: 'echo',
    queue: 'default',
    status: 'completed',
    input: { n: 1 },
    result: { n: 1 },
    attempts: 1,
    maxAttempts: 1,
    createdAt: now,
    finishedAt: now,
    ...overrides,
  };
}

describe('result writer on Postgres', () => {
  it('writes many concurrent rows in few INSERTs, each committed when its promise resolves', async () => {
    let inserts = 0;
    const writer = createBatcher<NewJobRow, unknown>({
      maxBatchSize: 200,
      commit: (rows) => {
        inserts++;
        return upsertTerminalRows(database.db, rows);
      },
    });
    const rows = Array.from({ length: 1_000 }, () => row());
    const visible = await Promise.all(
      rows.map(async (r) => {
        await writer.add(r);
        // Resolved only after commit: another connection of the pool sees the row at once.
        return (await database.sql`select 1 from jobs where id = ${r.id}`).length;
      }),
    );
    expect(visible.every((n) => n === 1)).toBe(true);
    expect(inserts).toBeGreaterThanOrEqual(5);
    expect(inserts).toBeLessThanOrEqual(10);
  });

  it('keeps the first terminal result of a job and raises runs for a re-run', async () => {
    const first = row({ result: 'first', runs: 1 });
    const won = {
      tenant: first.tenant,
      id: first.id,
      status: 'completed',
      result: 'first',
      error: null,
      generation: 0,
    };
    expect(await upsertTerminalRows(database.db, [first])).toEqual([won]);
    // The later row is told what won: the caller reports that, not its own outcome.
    const error = { code: 'HANDLER_FAILED' as const, message: 'second', retryable: false };
    const answer = await upsertTerminalRows(database.db, [{ ...first, status: 'failed', error, runs: 2 }]);
    expect(answer).toEqual([won]);
    const stored = await database.db.query.jobs.findFirst({ where: eq(jobs.id, first.id) });
    expect(stored).toMatchObject({ status: 'completed', result: 'first', runs: 2 });
  });

  it('stores every column as given: JSON values of each kind, timestamps, defaults for left-out columns', async () => {
    const createdAt = new Date('2026-01-02T03:04:05.678Z');
    const full = row({
      tenant: 'acme',
      input: [1, 'two', { three: 3 }],
      result: 'a plain string',
      error: { code: 'HANDLER_FAILED', message: 'x', retryable: false },
      attemptErrors: [
        { code: 'TIMEOUT', message: 't', retryable: true, attempt: 1, at: createdAt.toISOString() },
      ],
      metadata: { nested: { deep: [true, null] } },
      progress: 42,
      priority: 7,
      idempotencyKey: 'key-1',
      generation: 2,
      runs: 3,
      logs: ['one', 'two'],
      createdAt,
      startedAt: createdAt,
    });
    const sparse = row({ result: null, input: null });
    await upsertTerminalRows(database.db, [full, sparse]);
    const stored = await database.db.query.jobs.findFirst({ where: eq(jobs.id, full.id) });
    expect(stored).toMatchObject({ ...full, finishedAt: full.finishedAt });
    expect(stored?.createdAt.toISOString()).toBe(createdAt.toISOString());
    const defaults = await database.db.query.jobs.findFirst({ where: eq(jobs.id, sparse.id) });
    expect(defaults).toMatchObject({
      tenant: 'default',
      result: null,
      input: null,
      attemptErrors: [],
      logs: [],
      runs: 1,
      generation: 0,
      startedAt: null,
    });
    expect(defaults?.updatedAt).toBeInstanceOf(Date);
  });

  it('isolates rows Postgres refuses (lone surrogate, NUL) so the rest of their batch commits, and stores them failed with UNSTORABLE_RESULT and U+FFFD in place', async () => {
    const writer = createResultWriter({ db: database.db });
    const before = row({ result: { literal: '\\u0000', emoji: '😀' } });
    const surrogate = row({ result: { text: 'lone \ud800 surrogate' }, logs: ['fine'] });
    const nul = row({ result: 'ok', logs: ['a\u0000b'], metadata: { 'k\udc00': 1 } });
    const after = row();
    // Added in one turn of the event loop: one batch.
    const answers = await Promise.all([before, surrogate, nul, after].map((r) => writer.add(r)));
    expect(answers.map((a) => a.status)).toEqual(['completed', 'failed', 'failed', 'completed']);
    expect(answers[1]?.error).toMatchObject({
      code: 'UNSTORABLE_RESULT',
      retryable: false,
      message: expect.stringMatching(/result\.text holds a lone UTF-16 surrogate \(U\+D800\)/),
    });
    expect(answers[2]?.error?.message).toMatch(/logs\.0 holds the NUL character/);

    const stored = async (id: string) => database.db.query.jobs.findFirst({ where: eq(jobs.id, id) });
    expect(await stored(before.id)).toMatchObject({ status: 'completed', result: before.result });
    expect(await stored(after.id)).toMatchObject({ status: 'completed', result: { n: 1 } });
    expect(await stored(surrogate.id)).toMatchObject({
      status: 'failed',
      result: { text: 'lone \ufffd surrogate' },
      logs: ['fine'],
      error: { code: 'UNSTORABLE_RESULT' },
      attemptErrors: [{ code: 'UNSTORABLE_RESULT' }],
    });
    expect(await stored(nul.id)).toMatchObject({
      status: 'failed',
      result: 'ok',
      logs: ['a\ufffdb'],
      metadata: { 'k\ufffd': 1 },
    });
  });

  it('stores a refused row without its data when the refusal is not about a string (a time out of range)', async () => {
    const writer = createResultWriter({ db: database.db });
    const ancient = row({ createdAt: new Date(-8.64e15), result: { big: 'result' }, logs: ['x'] });
    const innocent = row();
    const [answer] = await Promise.all([writer.add(ancient), writer.add(innocent)]);
    expect(answer).toMatchObject({ status: 'failed', error: { code: 'UNSTORABLE_RESULT' } });
    expect(answer?.error?.message).toMatch(/date or time|dropped/);
    const stored = await database.db.query.jobs.findFirst({ where: eq(jobs.id, ancient.id) });
    expect(stored).toMatchObject({ status: 'failed', result: null, logs: [], type: 'echo' });
    expect(stored?.createdAt.getFullYear()).toBeGreaterThan(2000);
    expect(await database.db.query.jobs.findFirst({ where: eq(jobs.id, innocent.id) })).toMatchObject({
      status: 'completed',
    });
  });

  it("keeps two tenants' rows of the same id apart, in one batch and across batches", async () => {
    const mine = row();
    const theirs = { ...row(), id: mine.id, tenant: 'other-tenant', result: 'theirs' };
    const answer = await upsertTerminalRows(database.db, [mine, theirs]);
    expect(answer.map((r) => [r.tenant, r.result])).toEqual([
      [mine.tenant, mine.result],
      ['other-tenant', 'theirs'],
    ]);
    const later = await upsertTerminalRows(database.db, [{ ...theirs, tenant: 'third', result: 'third' }]);
    expect(later.map((r) => [r.tenant, r.result])).toEqual([['third', 'third']]);
    const stored = await database.db.select().from(jobs).where(eq(jobs.id, mine.id));
    expect(stored).toHaveLength(3);
  });

  it('merges duplicate ids inside one batch instead of failing the INSERT', async () => {
    const dup = row();
    await upsertTerminalRows(database.db, [dup, { ...dup, result: 'later', runs: 3 }, row()]);
    const stored = await database.db.query.jobs.findFirst({ where: eq(jobs.id, dup.id) });
    expect(stored).toMatchObject({ result: { n: 1 }, runs: 3 });
  });

  it('rejects every waiter of a batch whose commit fails', async () => {
    const writer = createResultWriter({ db: database.db });
    const good = row();
    const bad = row({ status: 'nonsense' as 'completed' });
    const results = await Promise.allSettled([writer.add(good), writer.add(bad)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    const count = await database.db
      .select({ n: sql<number>`count(*)::int` })
      .from(jobs)
      .where(eq(jobs.id, good.id));
    expect(count[0]?.n).toBe(0);
  });
});
