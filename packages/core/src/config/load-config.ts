import * as v from 'valibot';
import { ConveyorError } from '../errors/index.js';
import { isInternalQueue } from '../jobs/internal-queues.js';
import { MAX_PARTITIONS } from '../jobs/queue-partitions.js';
import type { RedisTarget } from '../redis/connect.js';
import {
  boolVar,
  clusterNodesVar,
  enumVar,
  intVar,
  listVar,
  optionalUrlVar,
  optionalVar,
  partitionsVar,
  stringVar,
  urlVar,
} from './env-vars.js';

/** Variables both the API and the worker read. */
const commonEnv = {
  /** Redis that holds the queues; must run with maxmemory-policy noeviction. */
  REDIS_URL: urlVar('redis://127.0.0.1:6379', ['redis', 'rediss']),
  /**
   * A Redis Cluster instead: its seed nodes, comma-separated (host:port or redis[s]:// URLs;
   * the first one's credentials and TLS apply to every node). Each queue then gets a hash
   * tag of its own, so queues spread over the masters. Unset: one server, REDIS_URL.
   */
  REDIS_CLUSTER_NODES: clusterNodesVar(),
  /** Postgres that holds job history. */
  DATABASE_URL: urlVar('postgres://postgres@127.0.0.1:5432/postgres', ['postgres', 'postgresql']),
  /** Key prefix of everything Conveyor keeps in Redis (no {braces} on a cluster: each queue gets its own hash tag). */
  QUEUE_PREFIX: stringVar('conveyor', /^[A-Za-z0-9_{}:-]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 _ - : { }'),
  /**
   * Queues split into partitions, as queue=count (e.g. images=4): the queue's jobs spread
   * over that many BullMQ queues, each with a hash tag of its own on a cluster. The API and
   * every worker must be given the same value. Unset: one per queue.
   */
  QUEUE_PARTITIONS: partitionsVar(MAX_PARTITIONS),
  /**
   * Status events kept per tenant for streams to replay to a client that reconnects with
   * Last-Event-ID (the writer of an event trims; Redis holds about this many per tenant).
   */
  EVENT_RETENTION_COUNT: intVar(10_000, 100, 1_000_000),
  /** How far back a reconnecting stream is replayed what it missed; older gets a `reset`. */
  EVENT_RETENTION_MS: intVar(600_000, 1_000, 86_400_000),
  /** pino level. */
  LOG_LEVEL: enumVar(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),
  /** Apply database migrations at start-up (under an advisory lock, so replicas may all do it). */
  MIGRATE_ON_START: boolVar(false),
  /** Postgres connections per process. */
  DATABASE_POOL_SIZE: intVar(10, 1, 200),
  /** POSTs per webhook delivery before it is given up (failed). */
  CALLBACK_MAX_ATTEMPTS: intVar(8, 1, 100),
  /** Wait before a delivery's first retry, doubled for each next one. */
  CALLBACK_BACKOFF_MS: intVar(1_000, 10, 3_600_000),
  /**
   * Private or reserved destinations http.request jobs and webhook deliveries may reach
   * anyway: comma-separated host names, IPs or CIDR ranges. Everything else private is
   * refused, by the worker when it sends and by the API when a webhook or callbackUrl is set.
   */
  HTTP_ALLOWLIST: listVar(/^[A-Za-z0-9.:[\]-]+(\/\d{1,3})?$/, 'host names, IP addresses or CIDR ranges'),
};

/** The API process's variables. */
export const apiEnv = v.object({
  ...commonEnv,
  /** HTTP port of the API. */
  PORT: intVar(3000, 1, 65_535),
  /** Interface the API listens on. */
  HOST: stringVar('0.0.0.0', /^[A-Za-z0-9.:[\]-]+$/, 'must be a host name or IP address'),
  /** Largest request body accepted; larger ones get 413. */
  BODY_LIMIT_BYTES: intVar(1_048_576, 1_024, 104_857_600),
  /** A request still running after this long gets 503. */
  REQUEST_TIMEOUT_MS: intVar(10_000, 100, 300_000),
  /** An API key (cvk_…, from `npm run keys -- generate`) ensured at start with the admin and operator scopes, for a first login; unset: none. */
  BOOTSTRAP_ADMIN_KEY: optionalVar(
    /^cvk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/,
    'must be a key from `npm run keys -- generate`',
  ),
  /** Tenant of BOOTSTRAP_ADMIN_KEY. */
  BOOTSTRAP_TENANT: stringVar('default', /^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 _ . -'),
  /** How long an API key lookup is cached per process: a revoked key stops working within this. */
  AUTH_CACHE_TTL_MS: intVar(5_000, 0, 60_000),
  /** HS256 secret for JWT bearer tokens (at least 32 characters); unset: no HS256 tokens. */
  JWT_SECRET: optionalVar(/^.{32,}$/, 'must be at least 32 characters'),
  /** JWKS URL of an identity provider for RS256/ES256 JWTs; unset: none. */
  JWT_JWKS_URL: optionalUrlVar(['https', 'http']),
  /** JWT claim that names the tenant. */
  JWT_TENANT_CLAIM: stringVar('tenant', /^[A-Za-z0-9_:./-]{1,100}$/, 'must be a claim name'),
  /** Required JWT issuer (iss); unset: not checked. */
  JWT_ISSUER: optionalVar(/^.{1,500}$/, 'must be 1-500 characters'),
  /** Required JWT audience (aud); unset: not checked. */
  JWT_AUDIENCE: optionalVar(/^.{1,500}$/, 'must be 1-500 characters'),
  /** Requests per second per API key or token, shared by all API replicas; 0 turns rate limits off. */
  RATE_LIMIT_PER_SECOND: intVar(50, 0, 1_000_000),
  /** Requests a key may make at once above its rate. */
  RATE_LIMIT_BURST: intVar(100, 1, 1_000_000),
  /** Most queued plus running jobs per tenant (429 QUEUE_FULL beyond); 0: no cap. */
  TENANT_MAX_IN_FLIGHT: intVar(100_000, 0, 100_000_000),
  /** Origins allowed to call the API from a browser, comma-separated; empty: CORS off. */
  CORS_ORIGINS: listVar(/^https?:\/\/[A-Za-z0-9.-]+(:\d+)?$/, 'origins like https://app.example.com'),
  /** How long a client job id or Idempotency-Key is remembered (finished jobs stay findable by id in Postgres). */
  IDEMPOTENCY_RETENTION_HOURS: intVar(24, 1, 24 * 365),
  /** Most jobs plus job types one WebSocket follows at once; more get an error message. */
  WS_MAX_SUBSCRIPTIONS: intVar(100, 1, 10_000),
  /** Most stream subscriptions per API process (an SSE stream, a job or the types a socket follows); more get 503. */
  STREAM_MAX_SUBSCRIPTIONS: intVar(10_000, 1, 1_000_000),
});

/** The worker process's variables. */
export const workerEnv = v.object({
  ...commonEnv,
  /** Queues this worker serves, comma-separated; empty means every queue of the catalog. */
  WORKER_QUEUES: listVar(/^[a-z][a-z0-9-]{0,62}$/, 'queue names'),
  /** Jobs run at once per queue by this process. */
  WORKER_CONCURRENCY: intVar(16, 1, 10_000),
  /** Port of the worker's /metrics and /health endpoints; 0 turns them off. */
  WORKER_PORT: intVar(3001, 0, 65_535),
  /** On SIGTERM, how long active jobs may run before they are handed back to the queue. */
  SHUTDOWN_GRACE_MS: intVar(25_000, 0, 3_600_000),
  /** How long a worker's claim on a running job lasts without renewal; a frozen or dead worker's jobs run elsewhere after it. */
  WORKER_LOCK_DURATION_MS: intVar(30_000, 500, 3_600_000),
  /** How often each worker looks for jobs whose lock lapsed (stalled) and puts them back. */
  WORKER_STALLED_INTERVAL_MS: intVar(30_000, 500, 3_600_000),
  /** Most terminal rows written by one INSERT. */
  RESULT_BATCH_SIZE: intVar(500, 1, 10_000),
  /** Result INSERTs committing at once: the next batch goes out while one waits for its fsync. */
  RESULT_COMMITS_IN_FLIGHT: intVar(1, 1, 16),
  /** Job history older than this many days is deleted (hourly, one worker at a time); 0 keeps it forever. */
  RESULT_RETENTION_DAYS: intVar(30, 0, 36_500),
  /** How long one webhook POST may take before it counts as failed. */
  CALLBACK_TIMEOUT_MS: intVar(10_000, 100, 300_000),
  /** How often BullMQ's job schedulers are reconciled with the schedules table (also at start). */
  SCHEDULE_RECONCILE_INTERVAL_MS: intVar(60_000, 1_000, 86_400_000),
});

export type ApiConfig = v.InferOutput<typeof apiEnv>;
export type WorkerConfig = v.InferOutput<typeof workerEnv>;
export type EnvSource = Readonly<Record<string, string | undefined>>;

/**
 * Validates a process's environment against `schema`. Empty values count as unset. Throws a
 * CONFIG_INVALID ConveyorError whose message names every bad variable and what it got.
 *
 * @example
 * const config = loadConfig(apiEnv, process.env);
 */
export function loadConfig<S extends v.GenericSchema<Record<string, unknown>>>(
  schema: S,
  source: EnvSource,
): v.InferOutput<S> {
  const input: Record<string, string> = {};
  for (const [key, value] of Object.entries(source)) {
    if (value !== undefined && value !== '') input[key] = value;
  }
  const result = v.safeParse(schema, input);
  const issues = result.success
    ? crossIssues(input, result.output)
    : result.issues.map((issue) => ({
        path: v.getDotPath(issue) ?? '',
        message: issue.message,
      }));
  if (result.success && issues.length === 0) return result.output;
  const lines = issues.map(({ path, message }) => {
    const got = input[path];
    return `  ${path || '(environment)'}: ${message}${got === undefined ? '' : ` (got ${JSON.stringify(got)})`}`;
  });
  throw new ConveyorError('CONFIG_INVALID', `invalid configuration:\n${lines.join('\n')}`, { issues });
}

/** What no single variable's check can see: variables that contradict each other. */
function crossIssues(input: Record<string, string>, output: unknown): { path: string; message: string }[] {
  const config = output as {
    REDIS_CLUSTER_NODES?: string[];
    QUEUE_PREFIX?: string;
    QUEUE_PARTITIONS?: ReadonlyMap<string, number>;
  };
  const issues: { path: string; message: string }[] = [];
  const internal = [...(config.QUEUE_PARTITIONS?.keys() ?? [])].filter(isInternalQueue);
  if (internal.length > 0) {
    issues.push({
      path: 'QUEUE_PARTITIONS',
      message: `must not name Conveyor's own queues (${internal.join(', ')}): they are not partitioned`,
    });
  }
  if (!config.REDIS_CLUSTER_NODES?.length) return issues;
  if (input.REDIS_URL !== undefined) {
    issues.push({
      path: 'REDIS_URL',
      message: 'must be unset when REDIS_CLUSTER_NODES is set (one Redis: a server or a cluster)',
    });
  }
  if (config.QUEUE_PREFIX !== undefined && /[{}]/.test(config.QUEUE_PREFIX)) {
    issues.push({
      path: 'QUEUE_PREFIX',
      message:
        'must have no { } with REDIS_CLUSTER_NODES: each queue gets a hash tag of its own, and one in the prefix would put every queue in one slot',
    });
  }
  return issues;
}

/**
 * Where the configuration says Redis is: the cluster of REDIS_CLUSTER_NODES when set,
 * otherwise the server of REDIS_URL.
 */
export function redisTarget(config: {
  REDIS_URL: string;
  REDIS_CLUSTER_NODES?: readonly string[];
}): RedisTarget {
  return config.REDIS_CLUSTER_NODES?.length ? { cluster: config.REDIS_CLUSTER_NODES } : config.REDIS_URL;
}
