import { ConveyorError, parseOrThrow } from '@conveyor/core/errors';
import { eventChannels, type StatusEvent } from '@conveyor/core/events';
import { isUuid, jobStatuses } from '@conveyor/core/jobs';
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import * as v from 'valibot';
import type { ApiEnv } from '../api-env.js';
import type { JobStore } from '../jobs/job-store.js';
import { createClientQueue } from '../streams/client-queue.js';
import type { EventHub } from '../streams/event-hub.js';
import { openJobStream } from '../streams/job-stream.js';
import { tenantOf } from '../tenant.js';

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
});

export interface EventRouteDeps {
  hub: EventHub;
  store: JobStore;
  prefix: string;
  /** A comment line every this often keeps proxies from closing an idle stream. @defaultValue 15 s */
  heartbeatMs?: number;
}

/** SSE streams: one job (snapshot first, closes after the terminal event) and the tenant's firehose. */
export function eventRoutes({ hub, store, prefix, heartbeatMs = 15_000 }: EventRouteDeps): Hono<ApiEnv> {
  return new Hono<ApiEnv>()
    .get('/jobs/:id/events', async (c) => {
      const id = c.req.param('id');
      if (!isUuid(id)) {
        throw new ConveyorError('VALIDATION_FAILED', 'invalid job id: must be a UUID', {
          issues: [{ path: 'id', message: 'must be a UUID' }],
        });
      }
      // Opened (and a 404 thrown) before the response starts streaming.
      const { snapshot, events, stop } = await openJobStream(
        { hub, store, prefix },
        tenantOf(c),
        id.toLowerCase(),
      );
      return streamSSE(c, async (stream) => {
        stream.onAbort(stop);
        const heartbeat = setInterval(() => void stream.write(': heartbeat\n\n'), heartbeatMs);
        try {
          await stream.writeSSE({ event: 'snapshot', data: JSON.stringify(snapshot) });
          for (let event = await events.next(); event; event = await events.next()) {
            await stream.writeSSE({ event: 'status', data: JSON.stringify(event) });
          }
        } finally {
          clearInterval(heartbeat);
          stop();
        }
      });
    })
    .get('/events', async (c) => {
      const tenant = tenantOf(c);
      const query = parseOrThrow(firehoseQuery, c.req.query());
      const matches = (e: StatusEvent) =>
        (!query.type || query.type.includes(e.type)) &&
        (!query.queue || query.queue.includes(e.queue)) &&
        (!query.status || query.status.includes(e.status));
      const events = createClientQueue<StatusEvent>();
      const untrack = hub.track(events);
      const unlisten = await hub.listen(eventChannels(prefix).tenant(tenant), (event) => {
        if (event.tenant === tenant && matches(event)) events.push(event);
      });
      const stop = () => {
        unlisten();
        untrack();
        events.close();
      };
      return streamSSE(c, async (stream) => {
        stream.onAbort(stop);
        const heartbeat = setInterval(() => void stream.write(': heartbeat\n\n'), heartbeatMs);
        try {
          await stream.write(': connected\n\n');
          for (let event = await events.next(); event; event = await events.next()) {
            await stream.writeSSE({ event: 'status', data: JSON.stringify(event) });
          }
        } finally {
          clearInterval(heartbeat);
          stop();
        }
      });
    });
}
