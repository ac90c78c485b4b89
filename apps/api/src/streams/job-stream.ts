import { eventChannels, type StatusEvent } from '@conveyor/core/events';
import { isTerminalStatus, type JobView } from '@conveyor/core/jobs';
import type { JobStore } from '../jobs/job-store.js';
import { type ClientQueue, createClientQueue } from './client-queue.js';
import type { EventHub } from './event-hub.js';

export interface JobStream {
  snapshot: JobView;
  /** The job's events after the snapshot; closes after the terminal one. */
  events: ClientQueue<StatusEvent>;
  /** Stops listening (always call it when the client leaves). */
  stop(): void;
}

/**
 * Opens a job's event stream: it subscribes *before* reading the job's snapshot, so no
 * event can fall between the two (a client may see an event the snapshot already shows,
 * never miss one). Throws JOB_NOT_FOUND for a job the tenant cannot see.
 */
export async function openJobStream(
  { hub, store, prefix }: { hub: EventHub; store: JobStore; prefix: string },
  tenant: string,
  id: string,
): Promise<JobStream> {
  const events = createClientQueue<StatusEvent>();
  const unlisten = await hub.listen(eventChannels(prefix).job(tenant, id), (event) => {
    if (event.tenant !== tenant) return;
    events.push(event);
    if (isTerminalStatus(event.status)) events.close('terminal');
  });
  const untrack = hub.track(events);
  const stop = () => {
    unlisten();
    untrack();
    events.close();
  };
  try {
    const snapshot = await store.get(tenant, id);
    if (isTerminalStatus(snapshot.status)) events.close('terminal');
    return { snapshot, events, stop };
  } catch (error) {
    stop();
    throw error;
  }
}
