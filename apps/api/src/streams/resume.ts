import { compareEventIds, type EventLog, type StatusEvent } from '@conveyor/core/events';
import { isTerminalStatus, type JobStatus } from '@conveyor/core/jobs';
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
function lastEventIdOf(c: Context): { after: string; field: string } | undefined {
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
 * Reads how the SSE stream of request `c` for `tenant` begins (its Last-Event-ID, if any).
 * Call it once the stream's live listener is open and buffering; then write what it says
 * and drop the live events `skipThrough` names. On failure (VALIDATION_FAILED naming the
 * field for a malformed id, Redis down) it calls `stop`, closing the listener, and throws.
 */
export async function startStream(
  c: Context,
  log: EventLog,
  tenant: string,
  keep: (event: StatusEvent) => boolean,
  stop: () => void,
): Promise<StreamStart> {
  try {
    const resume = lastEventIdOf(c);
    if (!resume) return { kind: 'fresh', id: await log.lastId(tenant) };
    return await resumeAfter(log, tenant, resume, keep);
  } catch (error) {
    stop();
    throw error;
  }
}

/**
 * Whether a resumed stream of a job or flow that has ended (`status`) has nothing to send:
 * it answers 204, which stops an EventSource from reconnecting.
 */
export function endedBefore(start: StreamStart, status: JobStatus): boolean {
  return start.kind === 'resumed' && start.events.length === 0 && isTerminalStatus(status);
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

/** A message a stream opens with (a snapshot, `connected`): its event name and JSON data. */
interface Opening {
  event: string;
  data: unknown;
}

/**
 * Writes how a stream begins: a fresh one's `opening` with the id to resume after; a
 * resumed one's catch-up; a reset (`event: reset`, whose id is where the client now
 * stands), then `afterReset` if given (a fresh snapshot: the client must re-read state).
 */
export async function writeStart(
  stream: SSEStreamingApi,
  start: StreamStart,
  log: EventLog,
  opening: (id: string) => Opening,
  afterReset?: () => Promise<Opening>,
): Promise<void> {
  if (start.kind === 'fresh') {
    const { event, data } = opening(start.id);
    await stream.writeSSE({ event, id: start.id, data: JSON.stringify(data) });
  } else if (start.kind === 'resumed') {
    for (const event of start.events) await writeStatus(stream, event);
  } else {
    await stream.writeSSE({
      event: 'reset',
      id: start.through,
      data: JSON.stringify(resetNotice(start, log.retention)),
    });
    if (afterReset) {
      const { event, data } = await afterReset();
      await stream.writeSSE({ event, data: JSON.stringify(data) });
    }
  }
}
