import { isConveyorError } from '@conveyor/core/errors';
import { type EventLog, eventChannels, isEventId, type StatusEvent } from '@conveyor/core/events';
import { upgradeWebSocket } from '@hono/node-server';
import type { Hono } from 'hono';
import type { WSContext } from 'hono/ws';
import * as v from 'valibot';
import type { ApiEnv } from '../api-env.js';
import type { JobStore } from '../jobs/job-store.js';
import { watchCredential } from '../streams/credential-watch.js';
import type { EventHub } from '../streams/event-hub.js';
import { openJobStream } from '../streams/job-stream.js';
import { alreadyCovered, resetNotice, resumeAfter } from '../streams/resume.js';
import { tenantOf } from '../tenant.js';
import { declareRoutes, type Operations } from './declare-routes.js';

const uuid = v.pipe(v.string(), v.uuid('must be a job id (UUID)'));
/** A message a WebSocket client sends. */
export const wsClientMessage = v.variant('op', [
  v.strictObject({
    op: v.picklist(['subscribe', 'unsubscribe']),
    jobs: v.optional(v.pipe(v.array(uuid), v.maxLength(100))),
    types: v.optional(v.pipe(v.array(v.pipe(v.string(), v.minLength(1), v.maxLength(64))), v.maxLength(100))),
    /**
     * Resume after this event id (the last event's `event.id`, or a `subscribed` answer's
     * `lastEventId`): the subscribed jobs' and types' events since are sent first, then live
     * ones, nothing twice; older than the window answers `{"type":"reset"}` and snapshots.
     */
    after: v.optional(v.pipe(v.string(), v.check(isEventId, 'must be an event id (<ms>-<n>)'))),
  }),
]);

/** Bytes a client may leave unread in its socket before it is dropped as too slow. */
const MAX_BUFFERED_BYTES = 1024 * 1024;
/** Messages of one socket waiting to be handled (they are handled one at a time, in order). */
const MAX_PENDING_MESSAGES = 16;
/** Live events of resuming subscriptions waiting for the catch-up to be sent. */
const MAX_HELD_EVENTS = 1_000;
/** How long a client may take to answer the server's close before its socket is cut. */
const CLOSE_GRACE_MS = 1_000;

export interface WsRouteDeps {
  hub: EventHub;
  /** The tenants' event logs: a resumed subscription's catch-up. */
  log: EventLog;
  store: JobStore;
  prefix: string;
  /** Most jobs plus types one socket follows at once (WS_MAX_SUBSCRIPTIONS). @defaultValue 100 */
  maxSubscriptions?: number;
  /** How often an open socket checks its credential again (credentialCheckMs). @defaultValue 2.5 s */
  recheckMs?: number;
}

type RawSocket = { bufferedAmount?: number; terminate?: () => void } | undefined;

/**
 * GET /v1/ws: subscribe and unsubscribe to job ids and job types over one WebSocket.
 *
 * Client → server: `{"op":"subscribe","jobs":["<id>"],"types":["sleep"],"after":"<event id>"}`
 * (or "unsubscribe"; `after` optional). Server → client: `{"type":"snapshot","job":…}` per
 * subscribed job (unless resumed), `{"type":"event","event":…}`, `{"type":"reset",…}`,
 * `{"type":"subscribed","jobs":[…],"types":[…],"lastEventId":…}`, `{"type":"unsubscribed",…}`,
 * `{"type":"error","message":…}`.
 * A socket's messages are handled one at a time, in order, so subscribes, unsubscribes and a
 * close racing each other leave nothing subscribed behind.
 */
export const wsOperations = {
  openWebSocket: {
    method: 'get',
    path: '/v1/ws',
    operationId: 'openWebSocket',
    tag: 'Streams',
    summary: 'Subscribe to jobs and types over a WebSocket',
    description:
      'Send WsClientMessage objects (`{"op":"subscribe","jobs":[ids],"types":[names]}`); receive `{"type":"snapshot","job"}`, `{"type":"event","event"}`, `{"type":"subscribed"|"unsubscribed"}` and `{"type":"error","message"}`. Every event has an `id`; `subscribed` carries `lastEventId`. A client that reconnects sends `"after": "<the last id it saw>"` with its subscribe: it is sent the events of those jobs and types it missed (no snapshots), then live ones, nothing twice; an id older than the window (EVENT_RETENTION_COUNT, EVENT_RETENTION_MS) gets `{"type":"reset","lastEventId","through","message"}` and snapshots instead.',
    scope: 'jobs:read',
    responses: { 101: { description: 'Switching protocols: the WebSocket is open.' } },
  },
} satisfies Operations;

export function wsRoutes({
  hub,
  log,
  store,
  prefix,
  maxSubscriptions = 100,
  recheckMs = 2_500,
}: WsRouteDeps): Hono<ApiEnv> {
  return declareRoutes(wsOperations, {
    openWebSocket: upgradeWebSocket((c) => {
      const tenant = tenantOf(c);
      const stillAuthenticated = c.get('stillAuthenticated');
      const jobStops = new Map<string, () => void>();
      const types = new Set<string>();
      let stopTypes: (() => void) | undefined;
      let socket: WSContext | undefined;
      let released = false;
      let untrack = () => {};
      let unwatch = () => {};
      let pending = 0;
      let handled: Promise<void> = Promise.resolve();

      /** Stops everything this socket follows; after it, nothing is subscribed again. */
      const release = () => {
        if (released) return;
        released = true;
        for (const stop of jobStops.values()) stop();
        jobStops.clear();
        stopTypes?.();
        stopTypes = undefined;
        untrack();
        unwatch();
      };
      /** Closes from the server's side, releasing at once rather than when the client answers. */
      const end = (code: number, reason: string) => {
        const ws = socket;
        release();
        if (!ws) return;
        ws.close(code, reason);
        setTimeout(() => (ws.raw as RawSocket)?.terminate?.(), CLOSE_GRACE_MS).unref();
      };
      const send = (payload: unknown) => {
        if (released || !socket) return;
        if (((socket.raw as RawSocket)?.bufferedAmount ?? 0) > MAX_BUFFERED_BYTES) {
          end(1008, 'client too slow');
          return;
        }
        socket.send(JSON.stringify(payload));
      };
      /** Per subscription (`job:<id>`, `type:<name>`): live events up to this id were covered by its resume. */
      const covered = new Map<string, string>();
      /** Subscriptions whose resume is being sent: their live events wait here until it is. */
      const held = new Map<string, StatusEvent[]>();
      let heldCount = 0;
      const sendEvent = (key: string, event: StatusEvent) => {
        if (alreadyCovered(event, covered.get(key))) return;
        const waiting = held.get(key);
        if (!waiting) {
          send({ type: 'event', event });
          return;
        }
        waiting.push(event);
        if (++heldCount > MAX_HELD_EVENTS) end(1008, 'client too slow');
      };
      const following = () => jobStops.size + types.size;
      const limitMessage = `subscription limit reached: a socket follows at most ${maxSubscriptions} jobs and types together (WS_MAX_SUBSCRIPTIONS); unsubscribe first`;

      async function subscribeJob(id: string, resuming: boolean) {
        const stream = await openJobStream({ hub, store, prefix }, tenant, id);
        if (released) {
          stream.stop();
          return;
        }
        jobStops.set(id, stream.stop);
        if (!resuming) send({ type: 'snapshot', job: stream.snapshot });
        void (async () => {
          for (let event = await stream.events.next(); event; event = await stream.events.next()) {
            sendEvent(`job:${id}`, event);
          }
          if (stream.events.reason?.startsWith('client too slow')) end(1008, 'client too slow');
          stream.stop();
          if (jobStops.get(id) === stream.stop) jobStops.delete(id);
        })();
      }

      /**
       * Sends a resumed subscription's catch-up (the events of `jobs` and `names` after
       * `after`) or a reset with fresh snapshots, then the live events held meanwhile that
       * it did not cover. Answers the id the socket now stands at.
       */
      async function resume(after: string, jobs: string[], names: string[]): Promise<string> {
        const keys = [...jobs.map((id) => `job:${id}`), ...names.map((name) => `type:${name}`)];
        const resumedJobs = new Set(jobs);
        const resumedTypes = new Set(names);
        try {
          const start = await resumeAfter(
            log,
            tenant,
            { after, field: 'after' },
            (event) => resumedJobs.has(event.jobId) || resumedTypes.has(event.type),
          );
          for (const key of keys) covered.set(key, start.through);
          if (start.kind === 'resumed') {
            for (const event of start.events) send({ type: 'event', event });
          } else if (start.kind === 'reset') {
            send({ type: 'reset', through: start.through, ...resetNotice(start, log.retention) });
            for (const id of jobs) send({ type: 'snapshot', job: await store.get(tenant, id) });
          }
          return start.through;
        } finally {
          for (const key of keys) {
            const waiting = held.get(key) ?? [];
            held.delete(key);
            heldCount -= waiting.length;
            for (const event of waiting) sendEvent(key, event);
          }
        }
      }

      async function subscribe(jobs: string[], names: string[], after: string | undefined) {
        const accepted: { jobs: string[]; types: string[] } = { jobs: [], types: [] };
        // Only what this message adds is resumed: what the socket already follows has no gap.
        const resumedJobs = after === undefined ? [] : jobs.filter((id) => !jobStops.has(id));
        const resumedTypes = after === undefined ? [] : names.filter((name) => !types.has(name));
        for (const id of resumedJobs) held.set(`job:${id}`, []);
        for (const name of resumedTypes) held.set(`type:${name}`, []);
        for (const id of jobs) {
          if (released) return;
          if (!jobStops.has(id) && following() >= maxSubscriptions) {
            send({ type: 'error', message: limitMessage, job: id });
            continue;
          }
          try {
            if (!jobStops.has(id)) await subscribeJob(id, resumedJobs.includes(id));
            accepted.jobs.push(id);
          } catch (error) {
            send({
              type: 'error',
              message: isConveyorError(error) ? error.message : 'could not subscribe',
              job: id,
            });
          }
        }
        const added: string[] = [];
        for (const name of names) {
          if (types.has(name)) {
            accepted.types.push(name);
          } else if (following() >= maxSubscriptions) {
            send({ type: 'error', message: limitMessage, jobType: name });
          } else {
            types.add(name);
            added.push(name);
          }
        }
        if (types.size > 0 && !stopTypes && !released) {
          try {
            const stop = await hub.listen(eventChannels(prefix).tenant(tenant), (event: StatusEvent) => {
              if (event.tenant === tenant && types.has(event.type)) sendEvent(`type:${event.type}`, event);
            });
            if (released) stop();
            else stopTypes = stop;
          } catch (error) {
            for (const name of added) types.delete(name);
            added.length = 0;
            send({ type: 'error', message: isConveyorError(error) ? error.message : 'could not subscribe' });
          }
        }
        accepted.types.push(...added);
        let lastEventId: string;
        try {
          lastEventId =
            after === undefined
              ? await log.lastId(tenant)
              : await resume(
                  after,
                  resumedJobs.filter((id) => accepted.jobs.includes(id)),
                  resumedTypes.filter((name) => accepted.types.includes(name)),
                );
        } catch (error) {
          for (const key of [...held.keys()]) held.delete(key);
          heldCount = 0;
          send({ type: 'error', message: isConveyorError(error) ? error.message : 'could not resume' });
          return;
        }
        send({ type: 'subscribed', ...accepted, lastEventId });
      }

      function unsubscribe(jobs: string[], names: string[]) {
        for (const id of jobs) {
          jobStops.get(id)?.();
          jobStops.delete(id);
          covered.delete(`job:${id}`);
        }
        for (const name of names) {
          types.delete(name);
          covered.delete(`type:${name}`);
        }
        if (types.size === 0) {
          stopTypes?.();
          stopTypes = undefined;
        }
        send({ type: 'unsubscribed', jobs, types: names });
      }

      async function handle(data: unknown) {
        let parsed: v.InferOutput<typeof wsClientMessage>;
        try {
          parsed = v.parse(wsClientMessage, JSON.parse(typeof data === 'string' ? data : ''));
        } catch (error) {
          const reason = error instanceof v.ValiError ? v.summarize(error.issues) : 'not JSON';
          send({
            type: 'error',
            message: `bad message (${reason}); send {"op":"subscribe"|"unsubscribe","jobs":[ids],"types":[names]}`,
          });
          return;
        }
        const jobs = [...new Set((parsed.jobs ?? []).map((id) => id.toLowerCase()))];
        const names = [...new Set(parsed.types ?? [])];
        if (parsed.op === 'unsubscribe') unsubscribe(jobs, names);
        else await subscribe(jobs, names, parsed.after);
      }

      return {
        onOpen: (_event, ws) => {
          socket = ws;
          untrack = hub.track({ close: () => end(1001, 'server shutting down') });
          if (stillAuthenticated) {
            unwatch = watchCredential({
              check: stillAuthenticated,
              everyMs: recheckMs,
              onLost: () => end(1008, 'credential revoked or expired'),
            });
          }
        },
        onMessage: (event) => {
          if (released) return;
          if (pending >= MAX_PENDING_MESSAGES) {
            send({
              type: 'error',
              message: `too many messages waiting: a socket may have at most ${MAX_PENDING_MESSAGES} unanswered; wait for the answers`,
            });
            return;
          }
          pending++;
          handled = handled
            .then(() => (released ? undefined : handle(event.data)))
            .catch(() => send({ type: 'error', message: 'could not handle the message' }))
            .finally(() => {
              pending--;
            });
        },
        onClose: release,
        onError: release,
      };
    }),
  });
}
