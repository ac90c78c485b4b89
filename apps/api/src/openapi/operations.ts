import { dashboardOperations } from '../routes/dashboard.js';
import { docsOperations } from '../routes/docs.js';
import { eventOperations } from '../routes/events.js';
import { flowOperations } from '../routes/flows.js';
import { healthOperations } from '../routes/health.js';
import { jobTypeOperations } from '../routes/job-types.js';
import { jobOperations } from '../routes/jobs.js';
import { keyOperations } from '../routes/keys.js';
import { queueOperations } from '../routes/queues.js';
import { scheduleOperations } from '../routes/schedules.js';
import { statsOperations } from '../routes/stats.js';
import { webhookOperations } from '../routes/webhooks.js';
import { wsOperations } from '../routes/ws.js';
import type { OperationSpec } from './operation-spec.js';

/**
 * Every route the API serves, gathered from the declarations each route file makes next to
 * its handlers (routes/declare-routes.ts). Not a second list: a route exists, is guarded and
 * is documented by one declaration.
 */
export const operations: readonly OperationSpec[] = [
  jobOperations,
  flowOperations,
  eventOperations,
  wsOperations,
  queueOperations,
  statsOperations,
  jobTypeOperations,
  scheduleOperations,
  webhookOperations,
  keyOperations,
  healthOperations,
  docsOperations,
  dashboardOperations,
].flatMap((declared) => Object.values(declared));
