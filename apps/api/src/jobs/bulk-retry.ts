import type { Database } from '@conveyor/core/db';
import { isConveyorError, parseOrThrow } from '@conveyor/core/errors';
import { type BulkCancelResult, type BulkRetryResult, MAX_TAGS, tagSchema } from '@conveyor/core/jobs';
import * as v from 'valibot';
import type { JobControl } from './job-control.js';
import { countHistory, type createJobLister, isoTime, MAX_METADATA_FILTERS } from './job-list.js';

/** Most jobs one POST /v1/jobs/retry retries; past it, `nextCursor` continues. */
export const MAX_BULK_RETRY = 1_000;
/** Retries run at once within one request. */
const CONCURRENCY = 25;

const retryableStatuses = ['failed', 'cancelled', 'expired'] as const;

/** The body of POST /v1/jobs/retry: the list's filters, for finished jobs that did not complete. */
export const bulkRetryBody = v.strictObject({
  status: v.optional(
    v.pipe(
      v.array(v.picklist(retryableStatuses)),
      v.minLength(1),
      v.description('Which to retry: failed, cancelled, expired (default all three).'),
    ),
  ),
  type: v.optional(v.pipe(v.string(), v.maxLength(64))),
  queue: v.optional(v.pipe(v.string(), v.maxLength(64))),
  scheduleId: v.optional(v.pipe(v.string(), v.uuid('must be a UUID'))),
  createdAfter: v.optional(isoTime),
  createdBefore: v.optional(isoTime),
  tag: v.optional(v.pipe(v.array(tagSchema), v.maxLength(MAX_TAGS))),
  metadata: v.optional(
    v.pipe(
      v.record(
        v.pipe(v.string(), v.minLength(1), v.maxLength(128)),
        v.union([v.string(), v.number(), v.boolean()]),
      ),
      v.check((m) => Object.keys(m).length <= MAX_METADATA_FILTERS, `at most ${MAX_METADATA_FILTERS} keys`),
    ),
  ),
  dryRun: v.optional(
    v.pipe(v.boolean(), v.description('Only count the matching jobs (all of them); retry none.')),
  ),
  cursor: v.optional(
    v.pipe(v.string(), v.maxLength(512), v.description('The `nextCursor` of the previous answer.')),
  ),
});

/** A bulk body's filters as GET /v1/jobs's query. */
function listQueryOf(
  body: Omit<v.InferOutput<typeof bulkRetryBody>, 'status' | 'cursor'> & {
    status: readonly string[];
  },
): Record<string, string> {
  return {
    status: body.status.join(','),
    ...(body.type === undefined ? {} : { type: body.type }),
    ...(body.queue === undefined ? {} : { queue: body.queue }),
    ...(body.scheduleId === undefined ? {} : { scheduleId: body.scheduleId }),
    ...(body.createdAfter === undefined ? {} : { createdAfter: body.createdAfter }),
    ...(body.createdBefore === undefined ? {} : { createdBefore: body.createdBefore }),
    ...(body.tag?.length ? { tag: body.tag.join(',') } : {}),
    ...Object.fromEntries(
      Object.entries(body.metadata ?? {}).map(([k, value]) => [`metadata.${k}`, String(value)]),
    ),
  };
}

/**
 * Retry by filter, for the caller's tenant only: the matching failed, cancelled and expired
 * jobs (newest first, as GET /v1/jobs lists them), each retried as POST /v1/jobs/:id/retry
 * does, at most MAX_BULK_RETRY per request; `nextCursor` goes on from there.
 */
export function createBulkRetry({
  list,
  control,
  database,
}: {
  list: ReturnType<typeof createJobLister>;
  control: Pick<JobControl, 'retry'>;
  database: Database;
}) {
  return async function retryMatching(
    tenant: string,
    raw: unknown,
    origin: { requestId?: string | undefined } = {},
  ): Promise<BulkRetryResult> {
    const body = parseOrThrow(bulkRetryBody, raw);
    const query = listQueryOf({ ...body, status: body.status ?? retryableStatuses });
    if (body.dryRun) {
      return {
        matched: await countHistory(database, tenant, query),
        retried: 0,
        skipped: [],
        nextCursor: null,
        dryRun: true,
      };
    }
    let cursor = body.cursor ?? null;
    let matched = 0;
    let retried = 0;
    const skipped: { id: string; reason: string }[] = [];
    do {
      const page = await list(tenant, {
        ...query,
        limit: String(Math.min(500, MAX_BULK_RETRY - matched)),
        ...(cursor ? { cursor } : {}),
      });
      matched += page.items.length;
      for (let at = 0; at < page.items.length; at += CONCURRENCY) {
        await Promise.all(
          page.items.slice(at, at + CONCURRENCY).map(async ({ id }) => {
            try {
              await control.retry(tenant, id, origin);
              retried++;
            } catch (error) {
              // A job that cannot be retried is reported, not fatal to the rest; Redis or
              // Postgres failing is (the answer's 503 says so, and the cursor is not lost:
              // the client sends the same request again).
              if (!isConveyorError(error) || error.code === 'UNAVAILABLE') throw error;
              skipped.push({ id, reason: error.message });
            }
          }),
        );
      }
      cursor = page.nextCursor;
    } while (cursor !== null && matched < MAX_BULK_RETRY);
    return { matched, retried, skipped, nextCursor: cursor, dryRun: false };
  };
}

/** Most jobs one POST /v1/jobs/cancel cancels; send it again for the next ones. */
export const MAX_BULK_CANCEL = 1_000;

/** The body of POST /v1/jobs/cancel: the list's filters, for jobs still queued or running. */
export const bulkCancelBody = v.strictObject({
  ...bulkRetryBody.entries,
  status: v.optional(
    v.pipe(
      v.array(v.picklist(['queued', 'active'] as const)),
      v.minLength(1),
      v.description('Which to cancel: queued, active (default both).'),
    ),
  ),
  cursor: v.optional(v.never('cancel takes no cursor: send the same request again for the next ones')),
});

/**
 * Cancel by filter, for the caller's tenant only: its queued and running jobs that match
 * (as GET /v1/jobs lists them), cancelled together as POST /v1/jobs/:id/cancel does (rows
 * first), at most MAX_BULK_CANCEL per request. Cancelled jobs leave the in-flight list, so the
 * same request again goes on with the rest; `dryRun` counts every match.
 */
export function createBulkCancel({
  list,
  control,
}: {
  list: ReturnType<typeof createJobLister>;
  control: Pick<JobControl, 'cancelAll'>;
}) {
  return async function cancelMatching(tenant: string, raw: unknown): Promise<BulkCancelResult> {
    const body = parseOrThrow(bulkCancelBody, raw);
    const query = listQueryOf({ ...body, status: body.status ?? ['queued', 'active'] });
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await list(tenant, { ...query, limit: '500', ...(cursor ? { cursor } : {}) });
      ids.push(...page.items.map((job) => job.id));
      cursor = page.nextCursor;
    } while (cursor !== null && (body.dryRun || ids.length < MAX_BULK_CANCEL));
    if (body.dryRun) return { matched: ids.length, cancelled: 0, more: false, dryRun: true };
    const batch = ids.slice(0, MAX_BULK_CANCEL);
    const cancelled = await control.cancelAll(tenant, batch);
    return {
      matched: batch.length,
      cancelled: cancelled.length,
      more: ids.length > batch.length || cursor !== null,
      dryRun: false,
    };
  };
}
