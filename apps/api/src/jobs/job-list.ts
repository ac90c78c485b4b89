import { type Database, type JobRow, jobs } from '@conveyor/core/db';
import { ConveyorError, parseOrThrow } from '@conveyor/core/errors';
import {
  type JobEnvelope,
  type JobStatus,
  type JobView,
  jobStatuses,
  logicalQueueName,
  MAX_TAGS,
  statusOfState,
  type TerminalStatus,
  tagSchema,
  terminalStatuses,
} from '@conveyor/core/jobs';
import type { RedisClient } from '@conveyor/core/redis';
import { createTenantInFlight, type InFlightEntry } from '@conveyor/core/redis';
import type { Job, JobState } from 'bullmq';
import { and, arrayContains, desc, eq, gte, inArray, lt, lte, or, type SQL, sql } from 'drizzle-orm';
import * as v from 'valibot';
import { decodeCursorJson, invalidCursor, isCursorTime } from '../keyset-cursor.js';
import { cursorParam, limitParam, type Page } from '../pagination.js';
import type { QueueSet } from '../queues.js';
import { viewFromQueue, viewFromRow } from './job-view.js';
import { orUnavailable } from './unavailable.js';

export const isoTime = v.pipe(v.string(), v.isoTimestamp('must be an ISO 8601 timestamp with a time zone'));

/** Query of GET /v1/jobs. `status` may list several, comma-separated. */
export const listJobsQuery = v.strictObject({
  status: v.optional(
    v.pipe(
      v.string(),
      v.transform((s) => s.split(',').map((p) => p.trim())),
      v.check(
        (parts) => parts.every((p) => (jobStatuses as readonly string[]).includes(p)),
        `must be one or more of ${jobStatuses.join(', ')}, comma-separated`,
      ),
      v.transform((parts) => parts as JobStatus[]),
      v.description(`One or more of ${jobStatuses.join(', ')}, comma-separated.`),
    ),
  ),
  type: v.optional(v.pipe(v.string(), v.maxLength(64), v.description('Only jobs of this type.'))),
  queue: v.optional(v.pipe(v.string(), v.maxLength(64), v.description('Only jobs of this queue.'))),
  scheduleId: v.optional(
    v.pipe(v.string(), v.uuid('must be a UUID'), v.description('Only the jobs a schedule produced.')),
  ),
  createdAfter: v.optional(v.pipe(isoTime, v.description('Only jobs submitted at or after this time.'))),
  createdBefore: v.optional(v.pipe(isoTime, v.description('Only jobs submitted at or before this time.'))),
  tag: v.optional(
    v.pipe(
      v.string(),
      v.transform((s) => s.split(',').map((p) => p.trim())),
      v.array(tagSchema),
      v.maxLength(MAX_TAGS, `at most ${MAX_TAGS} tags`),
      v.description('Only jobs with every one of these tags, comma-separated.'),
    ),
  ),
  limit: limitParam('Jobs', 500),
  cursor: cursorParam(512),
});

/** Most `metadata.<key>=<value>` filters in one list request. */
export const MAX_METADATA_FILTERS = 5;

/**
 * The `metadata.<key>=<value>` filters of a list query (a job matches when its metadata's
 * `key` is that value: the string, or the number or boolean it spells), and the rest of the
 * query. A bad key or value is a 400 naming the parameter.
 */
export function metadataFilters(raw: Record<string, string>): {
  filters: { key: string; value: string }[];
  rest: Record<string, string>;
} {
  const filters: { key: string; value: string }[] = [];
  const rest: Record<string, string> = {};
  const issues: { path: string; message: string }[] = [];
  for (const [name, value] of Object.entries(raw)) {
    if (!name.startsWith('metadata.')) {
      rest[name] = value;
      continue;
    }
    const key = name.slice('metadata.'.length);
    if (key.length < 1 || key.length > 128)
      issues.push({ path: name, message: 'the key must be 1-128 characters' });
    else if (value.length > 1_024)
      issues.push({ path: name, message: 'the value must be at most 1024 characters' });
    else filters.push({ key, value });
  }
  if (filters.length > MAX_METADATA_FILTERS) {
    issues.push({ path: 'metadata', message: `at most ${MAX_METADATA_FILTERS} metadata filters` });
  }
  if (issues.length > 0) {
    const summary = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
    throw new ConveyorError('VALIDATION_FAILED', `invalid query: ${summary}`, { issues });
  }
  return { filters, rest };
}

/** The values a metadata filter's text matches: itself, and the number or boolean it spells. */
function matchValues(text: string): unknown[] {
  if (text === 'true' || text === 'false') return [text, text === 'true'];
  const n = Number(text);
  return text.trim() !== '' && Number.isFinite(n) && String(n) === text ? [text, n] : [text];
}

/**
 * Where a page ends. Listing runs in two phases: first the tenant's in-flight jobs (newest
 * first, from its in-flight set, by offset: a live view that shifts as jobs start and
 * finish), then the finished jobs in Postgres (newest first, keyset on created_at and id:
 * stable while paging).
 */
type Cursor = { p: 'q'; o: number } | { p: 'h'; t: string; i: string };

/** An offset into the tenant's in-flight set. */
const position = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(2 ** 31));

const cursorSchema = v.union([
  v.strictObject({ p: v.literal('q'), o: position }),
  v.strictObject({
    p: v.literal('h'),
    t: v.pipe(v.string(), v.check(isCursorTime)),
    i: v.pipe(v.string(), v.uuid()),
  }),
  // The start of history: the queued phase ended exactly at a page boundary.
  v.strictObject({ p: v.literal('h'), t: v.literal(''), i: v.literal('') }),
]);

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

/** Strictly decoded (see keyset-cursor.ts); anything else is a 400 naming `cursor`. */
function decodeCursor(raw: string): Cursor {
  const parsed = v.safeParse(cursorSchema, decodeCursorJson(raw));
  if (!parsed.success) throw invalidCursor();
  return parsed.output;
}

/** Reads of the in-flight set per page at most, so a page with a narrow filter stays bounded. */
const MAX_SCANS = 20;
/**
 * A member whose job is not in Redis this long after its creation is left over (its
 * release was lost) and is taken out; a younger one may be a submit between its reserve
 * and its enqueue.
 */
const STALE_AFTER_MS = 60_000;

export type JobPage = Page<JobView>;

/**
 * GET /v1/jobs: in-flight jobs from BullMQ, then finished ones from Postgres. Both phases
 * read only the tenant's own jobs (its in-flight set, its rows), so a page costs in
 * proportion to the tenant's jobs, whatever other tenants have in the shared queues.
 */
export function createJobLister({
  queues,
  database,
  redis,
}: {
  queues: QueueSet;
  database: Database;
  /** The producer connection, for the tenant in-flight set. */
  redis: RedisClient;
}) {
  const inFlight = createTenantInFlight(redis, queues.prefix);

  /** One read of the in-flight set from offset `o`: the views that pass the filters. */
  async function scan(
    tenant: string,
    o: number,
    want: number,
    keep: (job: Job<JobEnvelope>, status: JobStatus) => boolean,
  ): Promise<{ views: JobView[]; read: number; dropped: number }> {
    const byName = new Map(queues.all().map((q) => [q.name, q]));
    const entries = await orUnavailable('Redis', () => inFlight.page(tenant, o, want));
    // With auto-pipelining the job reads share a round trip, and the state reads another.
    const found = await orUnavailable('Redis', () =>
      Promise.all(
        entries.map(async (entry) => {
          const queue = byName.get(entry.queue);
          const job = queue ? ((await queue.getJob(entry.jobId)) as Job<JobEnvelope> | undefined) : undefined;
          return job ? { job, state: await job.getState() } : undefined;
        }),
      ),
    );
    const views: JobView[] = [];
    const stale: InFlightEntry[] = [];
    entries.forEach((entry, n) => {
      const hit = found[n];
      if (!hit) {
        if (Date.now() - entry.at > STALE_AFTER_MS) stale.push(entry);
        return;
      }
      const status = inFlightStatus(hit.state);
      // Ended (its row is the record, listed from history) or not this tenant's.
      if (status === undefined || hit.job.data?.tenant !== tenant) return;
      if (keep(hit.job, status)) views.push(viewFromQueue(hit.job, hit.state));
    });
    if (stale.length > 0) await inFlight.release(tenant, stale).catch(() => {});
    return { views, read: entries.length, dropped: stale.length };
  }

  return async function list(tenant: string, rawQuery: Record<string, string>): Promise<JobPage> {
    const parsed = parseListQuery(rawQuery);
    const { query, metadata, tags } = parsed;
    const metadataMatches = (m: Record<string, unknown> | null | undefined) =>
      metadata.every(({ key, value }) => m != null && matchValues(value).some((want) => m[key] === want));
    const statuses = new Set(query.status ?? jobStatuses);
    const after = query.createdAfter ? Date.parse(query.createdAfter) : Number.NEGATIVE_INFINITY;
    const before = query.createdBefore ? Date.parse(query.createdBefore) : Number.POSITIVE_INFINITY;
    const historyStatuses = terminalStatuses.filter((s) => statuses.has(s));
    let cursor: Cursor = query.cursor ? decodeCursor(query.cursor) : { p: 'q', o: 0 };
    const items: JobView[] = [];

    if (cursor.p === 'q' && (statuses.has('queued') || statuses.has('active'))) {
      queues.assertConnected();
      const keep = (job: Job<JobEnvelope>, status: JobStatus) =>
        statuses.has(status) &&
        (query.queue === undefined || logicalQueueName(job.queueName) === query.queue) &&
        (query.type === undefined || job.name === query.type) &&
        (query.scheduleId === undefined || job.data.scheduleId === query.scheduleId) &&
        tags.every((tag) => job.data.tags?.includes(tag)) &&
        metadataMatches(job.data.metadata) &&
        job.timestamp >= after &&
        job.timestamp <= before;
      let { o } = cursor;
      let exhausted = false;
      for (let scans = 0; items.length < query.limit && scans < MAX_SCANS && !exhausted; scans++) {
        const want = query.limit - items.length;
        const { views, read, dropped } = await scan(tenant, o, want, keep);
        items.push(...views);
        // Members taken out as left over shift the ones after them back.
        o += read - dropped;
        exhausted = read < want;
      }
      if (!exhausted) return { items, nextCursor: encodeCursor({ p: 'q', o }) };
      cursor = { p: 'h', t: '', i: '' };
    }

    if (historyStatuses.length === 0) return { items, nextCursor: null };
    const want = query.limit - items.length;
    if (want === 0) return { items, nextCursor: encodeCursor({ p: 'h', t: '', i: '' }) };
    const filters = historyConditions(tenant, parsed, historyStatuses);
    if (cursor.p === 'h' && cursor.t !== '') {
      const t = new Date(cursor.t);
      filters.push(or(lt(jobs.createdAt, t), and(eq(jobs.createdAt, t), lt(jobs.id, cursor.i))));
    }
    const rows: JobRow[] = await orUnavailable('Postgres', () =>
      database.db
        .select()
        .from(jobs)
        .where(and(...filters))
        .orderBy(desc(jobs.createdAt), desc(jobs.id))
        .limit(want + 1),
    );
    const page = rows.slice(0, want);
    items.push(...page.map(viewFromRow));
    const last = page.at(-1);
    const more = rows.length > want && last !== undefined;
    return {
      items,
      nextCursor: more ? encodeCursor({ p: 'h', t: last.createdAt.toISOString(), i: last.id }) : null,
    };
  };
}

/** A list query, checked: its parameters, its metadata filters and its tags. */
type ListQuery = {
  query: v.InferOutput<typeof listJobsQuery>;
  metadata: { key: string; value: string }[];
  tags: string[];
};

function parseListQuery(rawQuery: Record<string, string>): ListQuery {
  const { filters: metadata, rest } = metadataFilters(rawQuery);
  const query = parseOrThrow(listJobsQuery, rest);
  return { query, metadata, tags: query.tag ?? [] };
}

/** The conditions on the history of a list query's filters (all but the cursor). */
function historyConditions(
  tenant: string,
  { query, metadata, tags }: ListQuery,
  statuses: readonly TerminalStatus[],
): (SQL | undefined)[] {
  return [
    eq(jobs.tenant, tenant),
    inArray(jobs.status, [...statuses]),
    query.type === undefined ? undefined : eq(jobs.type, query.type),
    query.queue === undefined ? undefined : eq(jobs.queue, query.queue),
    query.scheduleId === undefined ? undefined : eq(jobs.scheduleId, query.scheduleId),
    query.createdAfter === undefined ? undefined : gte(jobs.createdAt, new Date(query.createdAfter)),
    query.createdBefore === undefined ? undefined : lte(jobs.createdAt, new Date(query.createdBefore)),
    tags.length === 0 ? undefined : arrayContains(jobs.tags, tags),
    // Containment, so the GIN index on metadata answers it (jsonb_path_ops).
    ...metadata.map(({ key, value }) =>
      or(
        ...matchValues(value).map(
          (want) => sql`${jobs.metadata} @> ${JSON.stringify({ [key]: want })}::jsonb`,
        ),
      ),
    ),
  ];
}

/**
 * How many of the tenant's finished jobs a list query matches (its `status` among the
 * terminal ones; every terminal one without it).
 */
export async function countHistory(
  database: Database,
  tenant: string,
  rawQuery: Record<string, string>,
): Promise<number> {
  const parsed = parseListQuery(rawQuery);
  const statuses = terminalStatuses.filter(
    (s) => parsed.query.status === undefined || parsed.query.status.includes(s),
  );
  if (statuses.length === 0) return 0;
  const [row] = await orUnavailable('Postgres', () =>
    database.db
      .select({ n: sql<number>`count(*)::int` })
      .from(jobs)
      .where(and(...historyConditions(tenant, parsed, statuses))),
  );
  return row?.n ?? 0;
}

/** The status of an in-flight job's BullMQ state; undefined once it ended. */
function inFlightStatus(state: JobState | 'unknown'): JobStatus | undefined {
  if (state === 'completed' || state === 'failed' || state === 'unknown') return undefined;
  return statusOfState[state];
}
