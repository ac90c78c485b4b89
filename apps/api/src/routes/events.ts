import { parseOrThrow } from '@conveyor/core/errors';
import { type EventLog, eventChannels, type StatusEvent } from '@conveyor/core/events';
import { jobStatuses } from '@conveyor/core/jobs';
import type { HttpBindings } from '@hono/node-server';
import type { Context, Hono } from 'hono';
import { type SSEStreamingApi, streamSSE } from 'hono/streaming';
import * as v from 'valibot';
import type { ApiEnv } from '../api-env.js';
import type { JobStore } from '../jobs/job-store.js';
import { jobIdParam, sse } from '../openapi/operation-spec.js';
import { resourceId } from '../resource-id.js';
import { type ClientQueue, createClientQueue } from '../streams/client-queue.js';
import { watchCredential } from '../streams/credential-watch.js';
import type { EventHub } from '../streams/event-hub.js';
import { openJobStream } from '../streams/job-stream.js';
import {
  alreadyCovered,
  endedBefore,
  lastEventIdQuery,
  skipThrough,
  startStream,
  writeStart,
  writeStatus,
} from '../streams/resume.js';
import { tenantOf } from '../tenant.js';
import { declareRoutes, type Operations } from './declare-routes.js';

const list = (what: string, description: string, allowed?: readonly string[]) =>
  v.optional(
    v.pipe(
      v.string(),
      v.description(description),
      v.transform((s) => s.split(',').map((p) => p.trim())),
      v.check((parts) => allowed === undefined || parts.every((p) => allowed.includes(p)), `must be ${what}`),
    ),
  );

/** The query of GET /v1/events; each filter takes comma-separated values. */
export const firehoseQuery = v.strictObject({
  type: list('job type names', 'Only events of these job types, comma-separated.'),
  queue: list('queue names', 'Only events of these queues, comma-separated.'),
  status: list(
    `one or more of ${jobStatuses.join(', ')}`,
    `Only events with these statuses (${jobStatuses.join(', ')}), comma-separated.`,
    jobStatuses,
  ),
  ...lastEventIdQuery,
});

/** The query of a job's or a flow's event stream. */
export const resumeQuery = v.strictObject(lastEventIdQuery);

/** What every SSE stream's description says about ids and resuming. */
export const RESUME_WORDS =
  "Every status event carries `id:`, its id in the tenant's event log. A client that reconnects with `Last-Event-ID` (or `?lastEventId=`) is sent what it missed, then live events, nothing twice; when that id is older than the window (EVENT_RETENTION_COUNT events, EVENT_RETENTION_MS) it gets `event: reset` instead and must re-read state. A malformed id is a 400.";

export interface EventRouteDeps {
  hub: EventHub;
  /** The tenants' event logs: a reconnecting stream's catch-up. */
  log: EventLog;
  store: JobStore;
  prefix: string;
  /** A comment line every this often keeps proxies from closing an idle stream. @defaultValue 15 s */
  heartbeatMs?: number;
  /** How often an open stream checks its credential again (credentialCheckMs). @defaultValue 2.5 s */
  recheckMs?: number;
}

/** Why a stream's queue closes when its credential stops authenticating. */
const CREDENTIAL_LOST = 'credential revoked or expired';
/** How long a stream whose credential is gone may take to write its end before it is cut. */
const END_GRACE_MS = 1_000;

/**
 * Writes `events` to an SSE stream until the queue closes, with heartbeats, and re-checks
 * the request's credential: when it no longer authenticates the stream ends with an
 * `event: error` (a problem). A client too slow to keep up (more than 1,000 events waiting)
 * has its connection destroyed at once: it is not reading, so a graceful end would wait for
 * it forever; likewise a client whose credential is gone but who does not read the end.
 */
export async function pipeEvents(
  c: Context<ApiEnv>,
  stream: SSEStreamingApi,
  events: ClientQueue<StatusEvent>,
  {
    heartbeatMs,
    recheckMs,
    skip,
  }: {
    heartbeatMs: number;
    recheckMs: number;
    /** Live events up to this id were already written (a resumed stream's catch-up): dropped. */
    skip?: string | undefined;
  },
): Promise<void> {
  // Only a response still being written: a finished one's socket may serve the next request.
  const destroy = () => {
    const outgoing = (c.env as Partial<HttpBindings> | undefined)?.outgoing;
    if (outgoing && !outgoing.writableFinished) outgoing.destroy();
  };
  events.onClose((reason) => {
    if (reason.startsWith('client too slow')) destroy();
    else if (reason === CREDENTIAL_LOST) setTimeout(destroy, END_GRACE_MS).unref();
  });
  const heartbeat = setInterval(() => void stream.write(': heartbeat\n\n'), heartbeatMs);
  const check = c.get('stillAuthenticated');
  const unwatch = check
    ? watchCredential({ check, everyMs: recheckMs, onLost: () => events.close(CREDENTIAL_LOST) })
    : () => {};
  try {
    for (let event = await events.next(); event; event = await events.next()) {
      if (!alreadyCovered(event, skip)) await writeStatus(stream, event);
    }
    if (events.reason === CREDENTIAL_LOST && !stream.aborted) {
      const problem = { code: 'UNAUTHENTICATED', message: `the API key or token was ${CREDENTIAL_LOST}` };
      await stream.writeSSE({ event: 'error', data: JSON.stringify(problem) });
    }
  } finally {
    clearInterval(heartbeat);
    unwatch();
  }
}

/** SSE streams: one job (snapshot first, closes after the terminal event) and the tenant's firehose. */
export const eventOperations = {
  streamJobEvents: {
    method: 'get',
    path: '/v1/jobs/:id/events',
    operationId: 'streamJobEvents',
    tag: 'Streams',
    summary: "Follow one job's status (SSE)",
    scope: 'jobs:read',
    pathParams: jobIdParam,
    responses: {
      200: sse(
        `Server-sent events: \`event: snapshot\` with the JobView first, then \`event: status\` with a StatusEvent per change; closed after the terminal one. Comment lines are heartbeats. ${RESUME_WORDS} A resumed stream sends no snapshot (after a reset it does); a job that ended before the id answers 204, which stops an EventSource from reconnecting.`,
      ),
      204: { description: 'Resumed after the job had already ended: nothing more will come.' },
    },
    query: resumeQuery,
    problems: [400, 404],
  },
  streamEvents: {
    method: 'get',
    path: '/v1/events',
    operationId: 'streamEvents',
    tag: 'Streams',
    summary: "The tenant's event firehose (SSE)",
    scope: 'jobs:read',
    query: firehoseQuery,
    responses: {
      200: sse(
        `Server-sent events: \`event: connected\` first (its id is where the stream starts), then \`event: status\` with a StatusEvent per change of any matching job. ${RESUME_WORDS}`,
      ),
    },
    problems: [400],
  },
} satisfies Operations;

export function eventRoutes({
  hub,
  log,
  store,
  prefix,
  heartbeatMs = 15_000,
  recheckMs = 2_500,
}: EventRouteDeps): Hono<ApiEnv> {
  const timing = { heartbeatMs, recheckMs };
  return declareRoutes(eventOperations, {
    streamJobEvents: async (c) => {
      const id = resourceId('job', c.req.param('id'));
      parseOrThrow(resumeQuery, c.req.query());
      const tenant = tenantOf(c);
      // Opened (and a 404 or 400 thrown) before the response starts streaming.
      const { snapshot, events, stop } = await openJobStream({ hub, store, prefix }, tenant, id);
      const start = await startStream(c, log, tenant, (event) => event.jobId === id, stop);
      if (endedBefore(start, snapshot.status)) {
        stop();
        return c.body(null, 204);
      }
      return streamSSE(c, async (stream) => {
        stream.onAbort(stop);
        try {
          await writeStart(
            stream,
            start,
            log,
            () => ({ event: 'snapshot', data: snapshot }),
            async () => ({ event: 'snapshot', data: await store.get(tenant, id) }),
          );
          await pipeEvents(c, stream, events, { ...timing, skip: skipThrough(start) });
        } finally {
          stop();
        }
      });
    },
    streamEvents: async (c) => {
      const tenant = tenantOf(c);
      const query = parseOrThrow(firehoseQuery, c.req.query());
      const matches = (e: StatusEvent) =>
        (!query.type || query.type.includes(e.type)) &&
        (!query.queue || query.queue.includes(e.queue)) &&
        (!query.status || query.status.includes(e.status));
      const events = createClientQueue<StatusEvent>();
      const unlisten = await hub.listen(eventChannels(prefix).tenant(tenant), (event) => {
        if (event.tenant === tenant && matches(event)) events.push(event);
      });
      const untrack = hub.track(events);
      const stop = () => {
        unlisten();
        untrack();
        events.close();
      };
      const start = await startStream(c, log, tenant, matches, stop);
      return streamSSE(c, async (stream) => {
        stream.onAbort(stop);
        try {
          await writeStart(stream, start, log, (lastEventId) => ({
            event: 'connected',
            data: { lastEventId },
          }));
          await pipeEvents(c, stream, events, { ...timing, skip: skipThrough(start) });
        } finally {
          stop();
        }
      });
    },
  });
}
