import { isConveyorError } from '@conveyor/core/errors';
import { eventChannels, type StatusEvent } from '@conveyor/core/events';
import { upgradeWebSocket } from '@hono/node-server';
import { Hono } from 'hono';
import type { WSContext } from 'hono/ws';
import * as v from 'valibot';
import type { ApiEnv } from '../api-env.js';
import type { JobStore } from '../jobs/job-store.js';
import type { EventHub } from '../streams/event-hub.js';
import { openJobStream } from '../streams/job-stream.js';
import { tenantOf } from '../tenant.js';

const uuid = v.pipe(v.string(), v.uuid('must be a job id (UUID)'));
/** A message a WebSocket client sends. */
export const wsClientMessage = v.variant('op', [
  v.strictObject({
    op: v.picklist(['subscribe', 'unsubscribe']),
    jobs: v.optional(v.pipe(v.array(uuid), v.maxLength(100))),
    types: v.optional(v.pipe(v.array(v.pipe(v.string(), v.minLength(1), v.maxLength(64))), v.maxLength(100))),
  }),
]);

/** Bytes a client may leave unread in its socket before it is dropped as too slow. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

/**
 * GET /v1/ws: subscribe and unsubscribe to job ids and job types over one WebSocket.
 *
 * Client → server: `{"op":"subscribe","jobs":["<id>"],"types":["sleep"]}` (or "unsubscribe").
 * Server → client: `{"type":"snapshot","job":…}` per subscribed job, `{"type":"event","event":…}`,
 * `{"type":"subscribed"|"unsubscribed","jobs":[…],"types":[…]}`, `{"type":"error","message":…}`.
 */
export function wsRoutes({
  hub,
  store,
  prefix,
}: {
  hub: EventHub;
  store: JobStore;
  prefix: string;
}): Hono<ApiEnv> {
  return new Hono<ApiEnv>().get(
    '/ws',
    upgradeWebSocket((c) => {
      const tenant = tenantOf(c);
      const jobStops = new Map<string, () => void>();
      const types = new Set<string>();
      let stopTypes: (() => void) | undefined;
      let socket: WSContext | undefined;

      const send = (ws: WSContext, payload: unknown) => {
        const raw = ws.raw as { bufferedAmount?: number } | undefined;
        if ((raw?.bufferedAmount ?? 0) > MAX_BUFFERED_BYTES) {
          ws.close(1008, 'client too slow');
          return;
        }
        ws.send(JSON.stringify(payload));
      };
      const stopAll = () => {
        for (const stop of jobStops.values()) stop();
        jobStops.clear();
        stopTypes?.();
        stopTypes = undefined;
      };
      const untrack = hub.track({ close: () => socket?.close(1001, 'server shutting down') });

      async function subscribeJob(ws: WSContext, id: string) {
        if (jobStops.has(id)) return;
        const stream = await openJobStream({ hub, store, prefix }, tenant, id.toLowerCase());
        jobStops.set(id, stream.stop);
        send(ws, { type: 'snapshot', job: stream.snapshot });
        void (async () => {
          for (let event = await stream.events.next(); event; event = await stream.events.next()) {
            send(ws, { type: 'event', event });
          }
          if (stream.events.reason?.startsWith('client too slow')) ws.close(1008, 'client too slow');
          stream.stop();
          jobStops.delete(id);
        })();
      }

      async function subscribeTypes(ws: WSContext, names: string[]) {
        for (const name of names) types.add(name);
        stopTypes ??= await hub.listen(eventChannels(prefix).tenant(tenant), (event: StatusEvent) => {
          if (event.tenant === tenant && types.has(event.type)) send(ws, { type: 'event', event });
        });
      }

      return {
        onOpen: (_event, ws) => {
          socket = ws;
        },
        onMessage: async (event, ws) => {
          let parsed: v.InferOutput<typeof wsClientMessage>;
          try {
            parsed = v.parse(wsClientMessage, JSON.parse(typeof event.data === 'string' ? event.data : ''));
          } catch (error) {
            const reason = error instanceof v.ValiError ? v.summarize(error.issues) : 'not JSON';
            send(ws, {
              type: 'error',
              message: `bad message (${reason}); send {"op":"subscribe"|"unsubscribe","jobs":[ids],"types":[names]}`,
            });
            return;
          }
          const jobs = parsed.jobs ?? [];
          const names = parsed.types ?? [];
          if (parsed.op === 'unsubscribe') {
            for (const id of jobs) {
              jobStops.get(id)?.();
              jobStops.delete(id);
            }
            for (const name of names) types.delete(name);
            if (types.size === 0) {
              stopTypes?.();
              stopTypes = undefined;
            }
            send(ws, { type: 'unsubscribed', jobs, types: names });
            return;
          }
          for (const id of jobs) {
            try {
              await subscribeJob(ws, id);
            } catch (error) {
              send(ws, {
                type: 'error',
                message: isConveyorError(error) ? error.message : 'could not subscribe',
                job: id,
              });
            }
          }
          if (names.length > 0) await subscribeTypes(ws, names);
          send(ws, { type: 'subscribed', jobs, types: names });
        },
        onClose: () => {
          stopAll();
          untrack();
        },
        onError: () => {
          stopAll();
          untrack();
        },
      };
    }),
  );
}
