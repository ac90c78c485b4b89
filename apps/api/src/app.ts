import type { Database } from '@conveyor/core/db';
import { ConveyorError } from '@conveyor/core/errors';
import { createEventPublisher, type EventRetention } from '@conveyor/core/events';
import type { Logger } from '@conveyor/core/log';
import { type AddressGuard, createAddressGuard } from '@conveyor/core/net';
import type { RedisClient } from '@conveyor/core/redis';
import { createWebhookDispatcher } from '@conveyor/core/webhooks';
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import { requestId } from 'hono/request-id';
import { timeout } from 'hono/timeout';
import { Registry } from 'prom-client';
import type { ApiEnv } from './api-env.js';
import type { ApiKeyStore } from './auth/api-keys.js';
import { authenticate } from './auth/authenticate.js';
import type { JwtVerifier } from './auth/jwt-verifier.js';
import { rateLimit } from './auth/rate-limit.js';
import { PROBLEM_CONTENT_TYPE, retryAfterSeconds, toProblem } from './errors/problem.js';
import { createFlowService } from './flows/flow-service.js';
import type { JobTypeRegistry } from './job-types/job-type-registry.js';
import { createBulkCancel, createBulkRetry } from './jobs/bulk-retry.js';
import { createJobControl } from './jobs/job-control.js';
import { createJobLister } from './jobs/job-list.js';
import { createJobStats } from './jobs/job-stats.js';
import { createJobStore } from './jobs/job-store.js';
import { createJobSubmitter } from './jobs/job-submitter.js';
import { createApiMetrics } from './metrics/api-metrics.js';
import { bodyLimit } from './middleware/body-limit.js';
import { requestLog, requestLogger } from './middleware/request-log.js';
import { securityHeaders } from './middleware/security-headers.js';
import { storableQuery } from './middleware/storable-query.js';
import { operations } from './openapi/operations.js';
import { createQueueLimits } from './queue-limits.js';
import type { QueueSet } from './queues.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { docsRoutes } from './routes/docs.js';
import { eventRoutes } from './routes/events.js';
import { flowRoutes } from './routes/flows.js';
import { healthRoutes } from './routes/health.js';
import { jobTypeRoutes } from './routes/job-types.js';
import { jobRoutes } from './routes/jobs.js';
import { keyRoutes } from './routes/keys.js';
import { queueRoutes } from './routes/queues.js';
import { scheduleRoutes } from './routes/schedules.js';
import { statsRoutes } from './routes/stats.js';
import { webhookRoutes } from './routes/webhooks.js';
import { wsRoutes } from './routes/ws.js';
import { createScheduleService } from './schedules/schedule-service.js';
import { credentialCheckMs } from './streams/credential-watch.js';
import type { EventHub } from './streams/event-hub.js';
import { createWebhookService } from './webhooks/webhook-service.js';

/**
 * A strict policy on every response: the docs and the dashboard load scripts, styles and
 * data from this origin only, with no inline script or style, so an injected string cannot run.
 */
const CONTENT_SECURITY_POLICY = {
  defaultSrc: ["'none'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  connectSrc: ["'self'"],
  fontSrc: ["'self'"],
  baseUri: ["'none'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
};

export interface ApiDeps {
  logger: Logger;
  registry: JobTypeRegistry;
  queues: QueueSet;
  /** The `producer` connection the queues use; probed by /health/ready. */
  redis: RedisClient;
  database: Database;
  /** @defaultValue 1 MiB */
  bodyLimitBytes?: number;
  /** @defaultValue 10 s */
  requestTimeoutMs?: number;
  /** How long a client id or Idempotency-Key is remembered. @defaultValue 24 h */
  idempotencyTtlSeconds?: number;
  /** API keys and, optionally, JWT bearer tokens. */
  auth: { keys: ApiKeyStore; jwt?: JwtVerifier | undefined };
  /** Per-key request rate; perSecond 0 turns it off. @defaultValue 50/s, burst 100 */
  rateLimit?: { perSecond: number; burst: number };
  /** Most queued plus running jobs per tenant; 0: no cap. @defaultValue 0 */
  tenantMaxInFlight?: number;
  /** Browser origins allowed by CORS; empty: CORS off. */
  corsOrigins?: readonly string[];
  /** Status events for SSE and WebSocket streams (one Redis subscriber per process). */
  hub: EventHub;
  /** SSE heartbeat period. @defaultValue 15 s */
  heartbeatMs?: number;
  /** Most jobs plus types one WebSocket follows (WS_MAX_SUBSCRIPTIONS). @defaultValue 100 */
  wsMaxSubscriptions?: number;
  /**
   * How many of each tenant's status events its log keeps, and how far back a reconnecting
   * stream is replayed (EVENT_RETENTION_COUNT, EVENT_RETENTION_MS). @defaultValue 10,000, 10 min
   */
  eventRetention?: EventRetention;
  /** Where the API's metrics are registered (served at /metrics). @defaultValue a new Registry */
  metricsRegistry?: Registry;
  /**
   * The outbound guard (HTTP_ALLOWLIST) the workers deliver webhooks through:
   * a URL it would always refuse is a 400 when a webhook or a callbackUrl is set.
   * @defaultValue global addresses only
   */
  guard?: AddressGuard;
  /** Retries of the deliveries a cancel enqueues (CALLBACK_MAX_ATTEMPTS, CALLBACK_BACKOFF_MS). */
  deliveries?: { maxAttempts?: number; backoffMs?: number };
}

/**
 * The Conveyor HTTP API as a Hono app, with every dependency passed in.
 *
 * @example
 * const app = createApp({ logger, registry, queues, redis, database });
 * serve({ fetch: app.fetch, port: 3000 });
 */
export function createApp(deps: ApiDeps): Hono<ApiEnv> {
  const { logger, bodyLimitBytes = 1_048_576, requestTimeoutMs = 10_000 } = deps;
  const store = createJobStore(deps);
  const guard = deps.guard ?? createAddressGuard([]);
  const submitter = createJobSubmitter({ ...deps, store, guard });
  const publisher = createEventPublisher(deps.redis, deps.queues.prefix, deps.eventRetention);
  const eventLog = publisher.log;
  // Cancels are rare: read the tenant's webhooks every time rather than cache them.
  const dispatcher = createWebhookDispatcher({
    database: deps.database,
    queue: deps.queues.internal('callbacks'),
    cacheTtlMs: 0,
    ...deps.deliveries,
  });
  const control = createJobControl({ ...deps, store, publisher, webhooks: dispatcher });
  const flows = createFlowService({ ...deps, store, control, guard });
  const list = createJobLister(deps);
  const stats = createJobStats(deps);
  const schedules = createScheduleService({ ...deps, guard });
  const webhooks = createWebhookService({ ...deps, guard, dispatcher });

  const metrics = createApiMetrics(deps.metricsRegistry ?? new Registry(), deps.queues, deps.hub.clients);
  const app = new Hono<ApiEnv>();
  app.use(requestId());
  app.use(requestLog(logger, metrics));
  app.use(securityHeaders(CONTENT_SECURITY_POLICY));
  app.use('/v1/*', bodyLimit(bodyLimitBytes));
  // hono's own timeout; its exception carries the problem to answer (503 TIMEOUT, retryable).
  app.use(
    '/v1/*',
    timeout(
      requestTimeoutMs,
      () =>
        new HTTPException(503, {
          cause: new ConveyorError('TIMEOUT', `the request took longer than ${requestTimeoutMs} ms`, {
            retryable: true,
          }),
        }),
    ),
  );
  const { corsOrigins = [], rateLimit: limits = { perSecond: 50, burst: 100 } } = deps;
  if (corsOrigins.length > 0) {
    app.use(
      '/v1/*',
      cors({ origin: [...corsOrigins], allowHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key'] }),
    );
  }
  // Open streams check their credential again this often, with key lookups at most this old.
  const recheckMs = credentialCheckMs(deps.auth.keys.cacheTtlMs);
  app.use('/v1/*', authenticate({ ...deps.auth, recheckMaxAgeMs: recheckMs }));
  app.use(
    '/v1/*',
    rateLimit({
      redis: deps.redis,
      prefix: deps.queues.prefix,
      perSecond: limits.perSecond,
      burst: limits.burst,
      logger,
    }),
  );
  app.use('/v1/*', storableQuery());

  // Every route below is declared once, next to its handler, with its path, scope and
  // documentation (routes/declare-routes.ts); openapi/operations.ts gathers the declarations.
  app.route('/', healthRoutes({ ...deps, metrics: metrics.registry }));
  const bulkRetry = createBulkRetry({ list, control, database: deps.database });
  const bulkCancel = createBulkCancel({ list, control });
  app.route('/', jobRoutes({ submitter, store, control, list, metrics, webhooks, bulkRetry, bulkCancel }));
  app.route(
    '/',
    flowRoutes({
      flows,
      hub: deps.hub,
      log: eventLog,
      prefix: deps.queues.prefix,
      ...(deps.heartbeatMs ? { heartbeatMs: deps.heartbeatMs } : {}),
    }),
  );
  app.route('/', statsRoutes({ stats }));
  app.route('/', scheduleRoutes({ schedules }));
  app.route('/', webhookRoutes({ webhooks }));
  app.route('/', jobTypeRoutes(deps));
  app.route('/', keyRoutes({ keys: deps.auth.keys }));
  app.route('/', queueRoutes({ ...deps, limits: createQueueLimits(deps) }));
  const streams = { hub: deps.hub, log: eventLog, store, prefix: deps.queues.prefix, recheckMs };
  app.route('/', eventRoutes({ ...streams, ...(deps.heartbeatMs ? { heartbeatMs: deps.heartbeatMs } : {}) }));
  app.route(
    '/',
    wsRoutes({
      ...streams,
      ...(deps.wsMaxSubscriptions ? { maxSubscriptions: deps.wsMaxSubscriptions } : {}),
    }),
  );
  app.route('/', docsRoutes({ registry: deps.registry, operations }));
  app.route('/', dashboardRoutes());

  app.notFound(() => {
    throw new ConveyorError('NOT_FOUND', 'no such route');
  });
  app.onError((raised, c) => {
    // A middleware of hono's raises an HTTPException; Conveyor's own problem is its cause.
    const error =
      raised instanceof HTTPException && raised.cause instanceof ConveyorError ? raised.cause : raised;
    const problem = toProblem(error, { instance: c.req.path, requestId: c.get('requestId') });
    if (problem.status >= 500) {
      requestLogger(c, logger).error({ err: error, code: problem.code }, 'request error');
    }
    const retryAfter = retryAfterSeconds(error);
    if (retryAfter !== undefined) c.header('Retry-After', String(retryAfter));
    return c.body(JSON.stringify(problem), problem.status as 400, { 'Content-Type': PROBLEM_CONTENT_TYPE });
  });
  return app;
}
