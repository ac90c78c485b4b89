/**
 * `npm run bench:history -- [rows]`: Postgres with a large job history. Fills a fresh
 * database of the run only (on DATABASE_URL's server, as `npm run bench` does, or an
 * embedded one, which runs without fsync: set DATABASE_URL for figures worth keeping) with
 * `rows` terminal rows (default 10 million: 200 tenants, 5 types, 30 days, 5 % failed, each
 * independent of the others). Then it times what the API and the workers do against it,
 * first without the two list indexes of migration 0009 (then built concurrently, timed),
 * then with them:
 * - get by id (the API's prepared read of one row),
 * - a filtered list page (a tenant's failed jobs of one type, newest first, 50), and a filter
 *   that matches nothing (the worst case: the whole tenant's range is read),
 * - a terminal-row batch (500 rows, the workers' upsert),
 * - a search page: a tenant's jobs of one customer by `metadata.customer`, and by a tag
 *   (2-3 rows of the tenant's 50,000), without migration 0012's GIN indexes and with them,
 * - one retention prune of a day's rows (the hourly DELETE, as the workers run it), with the
 *   reads and batches above going on during it, and what it leaves behind (dead tuples,
 *   table size, and whether autovacuum got to them). */
import { randomUUID } from 'node:crypto';
import { createDatabase, jobs, type NewJobRow, pruneHistory, upsertTerminalRows } from '@conveyor/core/db';
import { startIsolatedRun } from '@conveyor/dev';
import { and, arrayContains, desc, sql as dsql, eq, inArray, or, type SQL } from 'drizzle-orm';
import postgres from 'postgres';
import { percentile, root } from './kit.js';

const rows = Number(process.argv[2] ?? 10_000_000);
if (!Number.isInteger(rows) || rows < 1_000) {
  console.error('usage: npm run bench:history -- [rows ≥ 1000]');
  process.exit(2);
}
const TENANTS = 200;
const DAYS = 30;
/** Customers per tenant in metadata and tags: at 10 million rows, 2-3 jobs per tenant and customer. */
const CUSTOMERS = 20_000;

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const value = await fn();
  return [performance.now() - t0, value];
}

function summary(ms: number[]): string {
  return `p50 ${percentile(ms, 50).toFixed(2)} ms, p99 ${percentile(ms, 99).toFixed(2)} ms (${ms.length} runs)`;
}

async function main(): Promise<void> {
  const run = await startIsolatedRun({ name: 'history', env: process.env, dataDir: `${root}.data/bench-pg` });
  const sql = postgres(run.databaseUrl, { max: 4, onnotice: () => {} });
  const database = createDatabase(run.databaseUrl, { max: 8 });
  const now = Date.now();
  try {
    // The search indexes of migration 0012 are built after the fill, concurrently, as
    // docs/scaling.md says to on a large history; the others are built as rows arrive, as
    // they would be in production.
    const searchIndexes = ['jobs_tags_idx', 'jobs_metadata_idx'];
    const searchDefinitions = await sql<{ def: string }[]>`
      select pg_get_indexdef(c.oid) as def from pg_class c where c.relname = any(${searchIndexes})`;
    for (const index of searchIndexes) await sql.unsafe(`drop index ${index}`);
    const [fillMs] = await timed(async () => {
      for (let from = 0; from < rows; from += 1_000_000) {
        const to = Math.min(rows, from + 1_000_000);
        await sql`
          insert into jobs (id, tenant, type, queue, status, input, result, error, attempts, max_attempts,
                            metadata, tags, created_at, started_at, finished_at)
          select gen_random_uuid(),
                 'tenant-' || (i % ${TENANTS}::int),
                 'type-' || ((i / ${TENANTS}::int) % 5),
                 'default',
                 case when (i / 1000) % 20 = 0 then 'failed' else 'completed' end,
                 jsonb_build_object('n', i),
                 case when (i / 1000) % 20 = 0 then null else jsonb_build_object('ok', true) end,
                 case when (i / 1000) % 20 = 0 then jsonb_build_object('code', 'HANDLER_FAILED', 'message', 'boom', 'retryable', false) end,
                 1, 1,
                 jsonb_build_object('customer', (i / ${TENANTS}::int) % ${CUSTOMERS}::int, 'region', 'r' || (i % 7)),
                 array['customer:' || ((i / ${TENANTS}::int) % ${CUSTOMERS}::int), 'region:r' || (i % 7)],
                 f - interval '20 milliseconds', f - interval '10 milliseconds', f
          from (select i, to_timestamp(${now / 1_000}::float8 - (i::float8 / ${rows}::float8) * ${DAYS * 86_400}::float8) as f
                from generate_series(${from}::int, ${to - 1}::int) as i) as g`;
        process.stderr.write(`history: ${to.toLocaleString('en')} rows\n`);
      }
      await sql`analyze jobs`;
    });
    const size = async () =>
      (
        await sql<{ table: string; total: string; dead: string; live: string }[]>`
          select pg_size_pretty(pg_relation_size('jobs')) as table,
                 pg_size_pretty(pg_total_relation_size('jobs')) as total,
                 n_dead_tup::text as dead, n_live_tup::text as live
          from pg_stat_user_tables where relname = 'jobs'`
      )[0];
    console.log(
      `filled ${rows.toLocaleString('en')} rows in ${(fillMs / 1_000).toFixed(0)} s:`,
      await size(),
    );
    // Ids to read: a sample of existing rows, spread over the table.
    const sample = await sql<{ tenant: string; id: string }[]>`
      select tenant, id from jobs tablesample bernoulli (${Math.min(100, (100 * 2_000) / rows)}::float8) limit 500`;
    const getById = database.db.query.jobs
      .findFirst({
        where: and(eq(jobs.id, dsql.placeholder('id')), eq(jobs.tenant, dsql.placeholder('tenant'))),
      })
      .prepare('bench_get_job');
    const listPage = (tenant: string, type: string, statuses: ('completed' | 'failed')[]) =>
      database.db
        .select()
        .from(jobs)
        .where(and(eq(jobs.tenant, tenant), inArray(jobs.status, statuses), eq(jobs.type, type)))
        .orderBy(desc(jobs.createdAt), desc(jobs.id))
        .limit(51);
    // GET /v1/jobs?metadata.customer=… and ?tag=customer:…, as job-list builds them.
    const searchPage = (tenant: string, filter: SQL) =>
      database.db
        .select()
        .from(jobs)
        .where(and(eq(jobs.tenant, tenant), filter))
        .orderBy(desc(jobs.createdAt), desc(jobs.id))
        .limit(51);
    const byCustomer = (c: number) =>
      or(
        dsql`${jobs.metadata} @> ${JSON.stringify({ customer: c })}::jsonb`,
        dsql`${jobs.metadata} @> ${JSON.stringify({ customer: String(c) })}::jsonb`,
      ) as SQL;
    const batch = (): NewJobRow[] =>
      Array.from({ length: 500 }, (_, i) => ({
        id: randomUUID(),
        tenant: `tenant-${i % TENANTS}`,
        type: 'type-0',
        queue: 'default',
        status: 'completed',
        result: { ok: true },
        attempts: 1,
        maxAttempts: 1,
        createdAt: new Date(),
        finishedAt: new Date(),
      }));

    const measure = async (label: string) => {
      const get: number[] = [];
      for (const row of sample.slice(0, 300)) get.push((await timed(() => getById.execute(row)))[0]);
      const list: number[] = [];
      for (let i = 0; i < 40; i++)
        list.push((await timed(() => listPage(`tenant-${i % TENANTS}`, `type-${i % 5}`, ['failed'])))[0]);
      const none: number[] = [];
      for (let i = 0; i < 10; i++)
        none.push((await timed(() => listPage(`tenant-${i}`, 'no-such-type', ['failed', 'completed'])))[0]);
      const upserts: number[] = [];
      for (let i = 0; i < 20; i++)
        upserts.push((await timed(() => upsertTerminalRows(database.db, batch())))[0]);
      const byMetadata: number[] = [];
      const byTag: number[] = [];
      let found = 0;
      for (let i = 0; i < 20; i++) {
        const tenant = `tenant-${(i * 37) % TENANTS}`;
        const customer = (i * 7_919) % CUSTOMERS;
        const [ms, page] = await timed(() => searchPage(tenant, byCustomer(customer)));
        byMetadata.push(ms);
        found += page.length;
        byTag.push(
          (await timed(() => searchPage(tenant, arrayContains(jobs.tags, [`customer:${customer}`]))))[0],
        );
      }
      console.log(`${label}:`);
      console.log(`  get by id                   ${summary(get)}`);
      console.log(`  list page (failed, a type)  ${summary(list)}`);
      console.log(`  list page matching nothing  ${summary(none)}`);
      console.log(`  terminal-row batch of 500   ${summary(upserts)}`);
      console.log(
        `  search by metadata.customer ${summary(byMetadata)} (${(found / 20).toFixed(1)} rows a page)`,
      );
      console.log(`  search by tag customer:…    ${summary(byTag)}`);
    };
    // Without the two list indexes of migration 0009 (a deployment before it), then with them
    // built as docs/scaling.md says to before upgrading: concurrently, writes going on.
    const listIndexes = ['jobs_tenant_type_created_idx', 'jobs_tenant_status_created_idx'];
    const definitions = await sql<{ def: string }[]>`
      select pg_get_indexdef(c.oid) as def from pg_class c where c.relname = any(${listIndexes})`;
    for (const index of listIndexes) await sql.unsafe(`drop index ${index}`);
    await measure('without the list indexes of migration 0009 and the search indexes of 0012');
    for (const { def } of [...definitions, ...searchDefinitions]) {
      const [buildMs] = await timed(() =>
        sql.unsafe(def.replace(/^CREATE INDEX/, 'CREATE INDEX CONCURRENTLY')),
      );
      console.log(`  ${def.split(' ')[2]} built concurrently in ${(buildMs / 1_000).toFixed(1)} s`);
    }
    await sql`analyze jobs`;
    await measure('with them (as migrated)');

    // One retention prune of the oldest day, with the same reads and batches going on.
    const olderThan = new Date(now - (DAYS - 1) * 86_400_000);
    const during: number[] = [];
    const batchesDuring: number[] = [];
    let pruning = true;
    const load = (async () => {
      let n = 0;
      while (pruning) {
        const row = sample[n++ % sample.length];
        if (row) during.push((await timed(() => getById.execute(row)))[0]);
        if (n % 20 === 0)
          batchesDuring.push((await timed(() => upsertTerminalRows(database.db, batch())))[0]);
      }
    })();
    const [pruneMs, deleted] = await timed(() => pruneHistory(database, olderThan));
    const pruned = Date.now();
    pruning = false;
    await load;
    console.log(
      `retention prune: ${deleted?.toLocaleString('en')} rows (a day's) in ${(pruneMs / 1_000).toFixed(1)} s; ` +
        `meanwhile get by id ${summary(during)}, batches of 500 ${summary(batchesDuring)}`,
    );
    // An idle backend reports its statistics (the dead tuples it made) within 10 s.
    const waitMs = Number(process.env.HISTORY_VACUUM_WAIT_MS ?? 70_000);
    await new Promise((resolve) => setTimeout(resolve, Math.min(11_000, waitMs)));
    console.log('  right after:', await size());
    // Autovacuum's default threshold is 20 % of the table's rows dead, which a day of 30 is
    // far below; migration 0009 sets the jobs table's to 2 %, so this prune alone starts it.
    const [{ autovacuum } = { autovacuum: 'off' }] = await sql<{ autovacuum: string }[]>`show autovacuum`;
    if (autovacuum !== 'on') {
      console.log('  autovacuum is off on this server: whether it reclaims the prune is not measured');
    } else {
      await new Promise((resolve) => setTimeout(resolve, waitMs));
      const [vacuumed] = await sql<{ last: Date | null }[]>`
        select last_autovacuum as last from pg_stat_user_tables where relname = 'jobs'`;
      const last = vacuumed?.last?.getTime() ?? 0;
      const when =
        last >= pruned ? `${((last - pruned) / 1_000).toFixed(0)} s after the prune` : 'not since the prune';
      console.log(`  ${waitMs / 1_000} s later: ${JSON.stringify(await size())}; autovacuum ran ${when}`);
    }
    await measure('after the prune');
  } finally {
    await database.close();
    await sql.end();
    await run.close();
  }
}

main().catch((error: unknown) => {
  console.error('history:', error);
  process.exit(1);
});
