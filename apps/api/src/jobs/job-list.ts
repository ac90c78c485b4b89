import { type Database, type JobRow, jobs } from '@conveyor/core/db';
import { parseOrThrow } from '@conveyor/core/errors';
import {
  type JobEnvelope,
  type JobStatus,
  type JobView,
  jobStatuses,
  terminalStatuses,
} from '@conveyor/core/jobs';
import type { Job, JobType } from 'bullmq';
import { and, desc, eq, gte, inArray, lt, lte, or, type SQL } from 'drizzle-orm';
import * as v from 'valibot';
import { decodeCursorJson, invalidCursor, isCursorTime } from '../keyset-cursor.js';
import { cursorParam, limitParam, type Page } from '../pagination.js';
import type { QueueSet } from '../queues.js';
import { viewFromQueue, viewFromRow } from './job-view.js';
import { orUnavailable } from './unavailable.js';

const isoTime = v.pipe(v.string(), v.isoTimestamp('must be an ISO 8601 timestamp with a time zone'));

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
  limit: limitParam('Jobs', 500),
  cursor: cursorParam(512),
});

/**
 * Where a page ends. Listing runs in two phases: first the in-flight jobs in BullMQ
 * (queue by queue, state by state, by offset: a snapshot that shifts as jobs start and
 * finish), then the finished jobs in Postgres (newest first, keyset on created_at and id:
 * stable while paging).
 */
type Cursor = { p: 'q'; q: number; s: number; o: number } | { p: 'h'; t: string; i: string };

/** A position: a non-negative integer (a queue, a state, an offset). */
const position = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(2 ** 31));

const cursorSchema = v.union([
  v.strictObject({ p: v.literal('q'), q: position, s: position, o: position }),
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

const QUEUED_STATES: JobType[] = ['waiting', 'prioritized', 'delayed', 'waiting-children'];
const ACTIVE_STATES: JobType[] = ['active'];
/** BullMQ reads per page at most, so one page never scans a huge queue. */
const MAX_SCANS = 20;

export type JobPage = Page<JobView>;

/** GET /v1/jobs: in-flight jobs from BullMQ, then finished ones from Postgres. */
export function createJobLister({ queues, database }: { queues: QueueSet; database: Database }) {
  return async function list(tenant: string, rawQuery: Record<string, string>): Promise<JobPage> {
    const query = parseOrThrow(listJobsQuery, rawQuery);
    const statuses = new Set(query.status ?? jobStatuses);
    const after = query.createdAfter ? Date.parse(query.createdAfter) : Number.NEGATIVE_INFINITY;
    const before = query.createdBefore ? Date.parse(query.createdBefore) : Number.POSITIVE_INFINITY;
    const states = [
      ...(statuses.has('queued') ? QUEUED_STATES : []),
      ...(statuses.has('active') ? ACTIVE_STATES : []),
    ];
    const queueList = queues.all().filter((q) => query.queue === undefined || q.name === query.queue);
    const historyStatuses = terminalStatuses.filter((s) => statuses.has(s));
    let cursor: Cursor = query.cursor ? decodeCursor(query.cursor) : { p: 'q', q: 0, s: 0, o: 0 };
    // A queue or state past this query's lists would stop the scan where it is, and the
    // page would hand the same cursor back: a client following it would loop forever.
    if (
      cursor.p === 'q' &&
      (cursor.q >= Math.max(1, queueList.length) || cursor.s >= Math.max(1, states.length))
    ) {
      throw invalidCursor();
    }
    const items: JobView[] = [];

    if (cursor.p === 'q' && states.length > 0) {
      queues.assertConnected();
      let { q, s, o } = cursor;
      for (let scans = 0; q < queueList.length && items.length < query.limit && scans < MAX_SCANS; scans++) {
        const queue = queueList[q];
        const state = states[s];
        if (!queue || !state) break;
        const want = query.limit - items.length;
        const batch = (await orUnavailable('Redis', () =>
          queue.getJobs([state], o, o + want - 1, true),
        )) as Job<JobEnvelope>[];
        o += batch.length;
        for (const job of batch) {
          if (!job || job.data?.tenant !== tenant) continue;
          if (query.type !== undefined && job.name !== query.type) continue;
          if (query.scheduleId !== undefined && job.data.scheduleId !== query.scheduleId) continue;
          if (job.timestamp < after || job.timestamp > before) continue;
          items.push(viewFromQueue(job, state === 'active' ? 'active' : 'waiting'));
        }
        if (batch.length < want) {
          // This state of this queue is exhausted: next state, then next queue.
          o = 0;
          s += 1;
          if (s >= states.length) {
            s = 0;
            q += 1;
          }
        }
      }
      cursor = q < queueList.length ? { p: 'q', q, s, o } : { p: 'h', t: '', i: '' };
      if (cursor.p === 'q') return { items, nextCursor: encodeCursor(cursor) };
    }

    if (historyStatuses.length === 0) return { items, nextCursor: null };
    const want = query.limit - items.length;
    if (want === 0) return { items, nextCursor: encodeCursor({ p: 'h', t: '', i: '' }) };
    const filters: (SQL | undefined)[] = [
      eq(jobs.tenant, tenant),
      inArray(jobs.status, historyStatuses),
      query.type === undefined ? undefined : eq(jobs.type, query.type),
      query.queue === undefined ? undefined : eq(jobs.queue, query.queue),
      query.scheduleId === undefined ? undefined : eq(jobs.scheduleId, query.scheduleId),
      query.createdAfter === undefined ? undefined : gte(jobs.createdAt, new Date(query.createdAfter)),
      query.createdBefore === undefined ? undefined : lte(jobs.createdAt, new Date(query.createdBefore)),
    ];
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
