import { apiEnv, loadConfig, redisTarget } from '@conveyor/core/config';
import { createDatabase, migrateDatabase, readJobTypes } from '@conveyor/core/db';
import { ConveyorError } from '@conveyor/core/errors';
import { createLogger } from '@conveyor/core/log';
import { createAddressGuard } from '@conveyor/core/net';
import { createRedis, redisReady } from '@conveyor/core/redis';
import { serve } from '@hono/node-server';
import { createApp } from './app.js';
import { createApiKeyStore } from './auth/api-keys.js';
import { createJwtVerifier } from './auth/jwt-verifier.js';
import { createJobTypeRegistry } from './job-types/job-type-registry.js';
import { createQueueLimits } from './queue-limits.js';
import { createQueueSet } from './queues.js';
import { createEventHub } from './streams/event-hub.js';
import { createWebSocketServer } from './streams/websocket-server.js';

async function main(): Promise<void> {
  const config = loadConfig(apiEnv, process.env);
  const logger = createLogger({ name: 'conveyor-api', level: config.LOG_LEVEL });
  if (config.MIGRATE_ON_START) await migrateDatabase(config.DATABASE_URL);

  const database = createDatabase(config.DATABASE_URL, {
    max: config.DATABASE_POOL_SIZE,
    applicationName: 'conveyor-api',
  });
  // The job types workers registered: the API accepts those, and reads them again as workers
  // come and go.
  const registry = createJobTypeRegistry({ read: () => readJobTypes(database.db), logger });
  await registry
    .refresh()
    .catch((error: unknown) =>
      logger.warn({ err: error }, 'starting without the job type registry (Postgres unavailable)'),
    );
  const redis = createRedis(redisTarget(config), 'producer', 'conveyor-api');
  redis.on('error', (error) => logger.warn({ err: error }, 'redis connection error'));
  // Start serving either way: while Redis is down, submits get 503 and /health/ready says why.
  await redisReady(redis, 5_000).catch((error: unknown) =>
    logger.warn({ err: error }, 'starting without Redis'),
  );
  const queues = createQueueSet({
    connection: redis,
    prefix: config.QUEUE_PREFIX,
    names: () => registry.queues(),
    partitions: config.QUEUE_PARTITIONS,
  });
  // Queue limits live in Postgres: re-applied to Redis at start and every minute, so a Redis
  // that lost its data (or a partition added since) holds them again.
  const limits = createQueueLimits({ database });
  const applyLimits = () =>
    limits
      .reconcile((name) => queues.groups().find((g) => g.name === name)?.partitions)
      .catch((error: unknown) => logger.warn({ err: error }, 'could not re-apply queue limits'));
  void applyLimits();
  const limitsTimer = setInterval(() => void applyLimits(), 60_000);
  limitsTimer.unref();
  const keys = createApiKeyStore({ database, cacheTtlMs: config.AUTH_CACHE_TTL_MS });
  if (config.BOOTSTRAP_ADMIN_KEY) {
    await keys
      .create({
        tenant: config.BOOTSTRAP_TENANT,
        name: 'bootstrap',
        // The deployment's own key: its operator runs the shared queues, too.
        scopes: ['admin', 'operator'],
        key: config.BOOTSTRAP_ADMIN_KEY,
      })
      .then(() => logger.info({ tenant: config.BOOTSTRAP_TENANT }, 'bootstrap admin+operator key ready'))
      .catch((error: unknown) => logger.error({ err: error }, 'could not store BOOTSTRAP_ADMIN_KEY'));
  }
  const jwt = createJwtVerifier({
    secret: config.JWT_SECRET,
    jwksUrl: config.JWT_JWKS_URL,
    tenantClaim: config.JWT_TENANT_CLAIM,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
  });
  const subscriber = createRedis(redisTarget(config), 'subscriber', 'conveyor-api-events');
  subscriber.on('error', (error) => logger.warn({ err: error }, 'redis subscriber error'));
  const hub = createEventHub({ subscriber, logger, maxListeners: config.STREAM_MAX_SUBSCRIPTIONS });
  const app = createApp({
    logger,
    registry,
    queues,
    redis,
    database,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
    idempotencyTtlSeconds: config.IDEMPOTENCY_RETENTION_HOURS * 3_600,
    auth: { keys, jwt },
    rateLimit: { perSecond: config.RATE_LIMIT_PER_SECOND, burst: config.RATE_LIMIT_BURST },
    tenantMaxInFlight: config.TENANT_MAX_IN_FLIGHT,
    corsOrigins: config.CORS_ORIGINS,
    hub,
    wsMaxSubscriptions: config.WS_MAX_SUBSCRIPTIONS,
    eventRetention: { count: config.EVENT_RETENTION_COUNT, maxAgeMs: config.EVENT_RETENTION_MS },
    deliveries: { maxAttempts: config.CALLBACK_MAX_ATTEMPTS, backoffMs: config.CALLBACK_BACKOFF_MS },
    guard: createAddressGuard(config.HTTP_ALLOWLIST),
  });

  const server = serve(
    {
      fetch: app.fetch,
      port: config.PORT,
      hostname: config.HOST,
      websocket: { server: createWebSocketServer() },
    },
    (info) => {
      logger.info({ port: info.port, host: config.HOST }, `api listening on ${config.HOST}:${info.port}`);
    },
  );
  server.once('error', (error: NodeJS.ErrnoException) => {
    const why =
      error.code === 'EADDRINUSE'
        ? 'is in use by another process'
        : `cannot be listened on (${error.message})`;
    console.error(`conveyor-api: PORT ${config.PORT} on ${config.HOST} ${why}: choose another port`);
    process.exit(1);
  });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'api shutting down');
    // Reverse order of creation: stop taking requests, finish in-flight ones, then close clients.
    // Streams are long-lived: end them, or the server would wait for them forever.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    clearInterval(limitsTimer);
    await hub.close();
    await closed;
    registry.close();
    await queues.close();
    redis.disconnect();
    await database.close();
    logger.info('api stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  const message =
    error instanceof ConveyorError ? error.message : error instanceof Error ? error.stack : String(error);
  console.error(`conveyor-api: ${message}`);
  process.exit(1);
});
