/**
 * Terminology (the words the code, the API and the docs share):
 * - **job type**: a name, its input schema and options (queue, timeout, attempts, backoff,
 *   ttl), defined with `defineJob` in the project that runs it and registered in Postgres by
 *   its workers; the API accepts exactly the registered ones.
 * - **job**: one request to run a type with some data, identified by an id within its tenant;
 *   its **envelope** is what BullMQ carries (job-lifecycle.ts builds it, for a submit, a
 *   schedule tick and a retry alike).
 * - **queue**: a BullMQ queue; a type names one, a worker serves some (`schedules` and
 *   `callbacks` are Conveyor's own, internal queues). A queue may have **partitions**: several
 *   BullMQ queues (`images`, `images.1`, …) that every API answer shows as one.
 * - **attempt**: one run of the handler; attempts count on across **generations** (a retry
 *   through the API starts the next generation with the submit's own options).
 * - **hand-back**: a job given back to its queue unrun, no attempt used (shutdown, or a type
 *   this worker does not serve).
 * - **terminal status**: completed, failed, cancelled or expired; each job ends in exactly one
 *   Postgres row holding it, written before BullMQ is told.
 * - **webhook**: a URL a job's terminal status event is POSTed to: a tenant's subscription,
 *   or the job's own **callbackUrl** (a one-job webhook). One word across the packages
 *   (`@conveyor/core/webhooks`, `WebhookDispatcher`, the worker's `webhooks/`).
 * - **delivery**: one POST to one webhook, signed, retried with backoff; recorded in
 *   `webhook_deliveries`. Wire names kept from before for compatibility: the `callbackUrl`
 *   field, the internal `callbacks` queue, the `CALLBACK_*` variables and the
 *   `conveyor_callback_attempts_total` metric.
 */
export * from './bulk-results.js';
export * from './bullmq-vocabulary.js';
export * from './canonical-json.js';
export * from './define-job.js';
export * from './flow-view.js';
export * from './input-json-schema.js';
export * from './internal-queues.js';
export * from './job-key.js';
export * from './job-lifecycle.js';
export * from './job-options.js';
export * from './job-registry.js';
export * from './job-stats-view.js';
export * from './job-status.js';
export * from './name-uuid.js';
export * from './plain-record.js';
export * from './producer-queue.js';
export * from './queue-partitions.js';
export * from './registration.js';
export * from './submit.js';
