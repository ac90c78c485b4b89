import { compareEventIds, type EventLog, type StatusEvent } from '@conveyor/core/events';
import type { Context } from 'hono';
import type { SSEStreamingApi } from 'hono/streaming';
import * as v from 'valibot';

/** The query parameter that stands in for the Last-Event-ID header (for clients that cannot set it). */
export const LAST_EVENT_ID_PARAM = 'lastEventId';

/** `lastEventId` in a stream's query schema. */
export const lastEventIdQuery = {
  [LAST_EVENT_ID_PARAM]: v.optional(
    v.pipe(
      v.string(),
      v.description(
        'Resume after this event id (the `id:` of the last event received), as the Last-Event-ID header does; the header wins when both are sent.',
      ),
    ),
  ),
};

/** Where a reconnecting SSE client left off: the Last-Event-ID header, else the `lastEventId` parameter. */
export function lastEventIdOf(c: Context): { after: string; field: string } | undefined {
  const header = c.req.header('last-event-id');
  if (header !== undefined && header !== '') return { after: header.trim(), field: 'Last-Event-ID' };
  const param = c.req.query(LAST_EVENT_ID_PARAM);
  if (param !== undefined && param !== '') return { after: param.trim(), field: LAST_EVENT_ID_PARAM };
  return undefined;
}

/** How a stream begins, read after its live subscription is open (so nothing falls between). */
export type StreamStart =
  /** A new client: `id` is the tenant's last event id, for the client to resume after. */
  | { kind: 'fresh'; id: string }
  /** A reconnecting client: `events` is what it missed (kept by the stream's filter), in order. */
  | { kind: 'resumed'; events: StatusEvent[]; through: string }
  /**
   * A reconnecting client whose id is outside the window (or not one of the tenant's): it
   * must re-read state. Live events up to `through` happened before the reset.
   */
  | { kind: 'reset'; after: string; through: string };

/**
 * Reads how a stream for `tenant` begins. Call it once the stream's live listener is open
 * and buffering; then write what it says and drop the live events `skipThrough` names.
 * Throws VALIDATION_FAILED naming the field when the id is malformed.
 */
export async function startStream(
  log: EventLog,
  tenant: string,
  resume: { after: string; field: string } | undefined,
  keep: (event: StatusEvent) => boolean,
): Promise<StreamStart> {
  if (!resume) return { kind: 'fresh', id: await log.lastId(tenant) };
  return resumeAfter(log, tenant, resume, keep);
}

/** A reconnecting client's start: what it missed after `resume.after`, or a reset. */
export async function resumeAfter(
  log: EventLog,
  tenant: string,
  resume: { after: string; field: string },
  keep: (event: StatusEvent) => boolean,
): Promise<Exclude<StreamStart, { kind: 'fresh' }>> {
  const caught = await log.catchUp(tenant, resume.after, resume.field);
  if (!caught.complete) return { kind: 'reset', after: resume.after, through: caught.through };
  return { kind: 'resumed', events: caught.events.filter(keep), through: caught.through };
}

/** The id up to which live events repeat what the start already covers (none for a fresh stream). */
export function skipThrough(start: StreamStart): string | undefined {
  return start.kind === 'fresh' ? undefined : start.through;
}

/** Whether a live event was already covered by the stream's start (replayed, or before a reset). */
export function alreadyCovered(event: StatusEvent, through: string | undefined): boolean {
  return through !== undefined && event.id !== undefined && compareEventIds(event.id, through) <= 0;
}

/** What a `reset` says: the id the client sent is outside the window. */
export function resetNotice(
  start: Extract<StreamStart, { kind: 'reset' }>,
  retention: EventLog['retention'],
) {
  return {
    lastEventId: start.after,
    message: `events after ${start.after} are no longer all kept (the window holds a tenant's last ${retention.count} events, at most ${retention.maxAgeMs / 1_000} s old): re-read the state you follow`,
  };
}

/** Writes one status event as SSE, with its id. */
export function writeStatus(stream: SSEStreamingApi, event: StatusEvent): Promise<void> {
  return stream.writeSSE({
    event: 'status',
    data: JSON.stringify(event),
    ...(event.id === undefined ? {} : { id: event.id }),
  });
}

/**
 * Writes a resumed stream's catch-up, or a reset: `event: reset` whose id is where the
 * client now stands. Returns whether the client must be sent a fresh snapshot (a reset).
 */
export async function writeStart(
  stream: SSEStreamingApi,
  start: StreamStart,
  log: EventLog,
): Promise<boolean> {
  if (start.kind === 'resumed') {
    for (const event of start.events) await writeStatus(stream, event);
    return false;
  }
  if (start.kind === 'reset') {
    await stream.writeSSE({
      event: 'reset',
      id: start.through,
      data: JSON.stringify(resetNotice(start, log.retention)),
    });
    return true;
  }
  return false;
}
