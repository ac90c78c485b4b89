import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';

/**
 * - `producer`: the API's queues. Commands fail at once while Redis is down (no offline
 *   queue), so a submit answers 503 instead of hanging.
 * - `worker`: BullMQ workers, which block on Redis and must retry forever
 *   (`maxRetriesPerRequest: null`, as BullMQ requires).
 * - `subscriber`: pub/sub listeners; reconnects and resubscribes by itself.
 */
export type RedisRole = 'producer' | 'worker' | 'subscriber';

/** A connection to one Redis server or to a Redis Cluster: every role works on either. */
export type RedisClient = Redis | Cluster;

/**
 * Where Redis is: one server's URL (`REDIS_URL`), or a Redis Cluster by its seed nodes
 * (`REDIS_CLUSTER_NODES`, each `redis://[user:password@]host:port` or `rediss://…`; the first
 * node's credentials and TLS apply to every node the cluster reports).
 */
export type RedisTarget = string | { cluster: readonly string[] };

const roleOptions: Record<RedisRole, RedisOptions> = {
  producer: { enableOfflineQueue: false, maxRetriesPerRequest: 1, enableAutoPipelining: true },
  worker: { maxRetriesPerRequest: null, enableAutoPipelining: true },
  subscriber: { maxRetriesPerRequest: null },
};

const retryStrategy = (times: number) => Math.min(times * 200, 2_000);

/** Opens an ioredis connection configured for `role`. Never use ioredis keyPrefix with BullMQ. */
export function createRedis(target: string, role: RedisRole, name?: string): Redis;
export function createRedis(target: RedisTarget, role: RedisRole, name?: string): RedisClient;
export function createRedis(target: RedisTarget, role: RedisRole, name = `conveyor-${role}`): RedisClient {
  if (typeof target === 'string') {
    return new Redis(target, {
      ...roleOptions[role],
      connectionName: name,
      connectTimeout: 5_000,
      retryStrategy,
    });
  }
  return new Cluster(target.cluster.map(clusterNode), clusterOptions(target.cluster, role, name));
}

/** A seed node as ioredis takes it. */
function clusterNode(url: string): { host: string; port: number } {
  const { hostname, port } = new URL(url);
  return { host: hostname.replace(/^\[|\]$/g, ''), port: Number(port || 6379) };
}

/**
 * The Cluster options for `role`: the per-node options of a single connection (credentials,
 * TLS from the first seed), and at the cluster level what ioredis keeps there: the offline
 * queue, auto-pipelining (grouped per node) and, for a subscriber, sharded pub/sub.
 */
function clusterOptions(seeds: readonly string[], role: RedisRole, name: string): ClusterOptions {
  const { enableOfflineQueue, enableAutoPipelining, ...nodeOptions } = roleOptions[role];
  const first = new URL(seeds[0] ?? 'redis://127.0.0.1:6379');
  return {
    ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
    ...(enableAutoPipelining === undefined ? {} : { enableAutoPipelining }),
    shardedSubscribers: role === 'subscriber',
    clusterRetryStrategy: retryStrategy,
    redisOptions: {
      ...nodeOptions,
      connectionName: name,
      connectTimeout: 5_000,
      ...(first.username ? { username: decodeURIComponent(first.username) } : {}),
      ...(first.password ? { password: decodeURIComponent(first.password) } : {}),
      ...(first.protocol === 'rediss:' ? { tls: {} } : {}),
    },
  };
}

/** Whether `client` is a Redis Cluster connection. */
export function isCluster(client: RedisClient): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
}

/** A second connection like `client` (same server or cluster, same options) under `name`. */
export function duplicateRedis(client: RedisClient, name: string): RedisClient {
  if (!isCluster(client)) return client.duplicate({ connectionName: name });
  return client.duplicate(undefined, {
    redisOptions: { ...client.options.redisOptions, connectionName: name },
  });
}

/**
 * The BullMQ prefix of queue `queue`. On one server it is the deployment's prefix. On a
 * cluster each queue's keys get a hash tag of their own (`<prefix>:{<queue>}:<queue>:…`):
 * BullMQ's scripts need all of a queue's keys in one slot, and different queues then land
 * on different masters.
 */
export function queuePrefix(prefix: string, queue: string, client: RedisClient): string {
  return isCluster(client) ? `${prefix}:{${queue}}` : prefix;
}

/** Resolves once the connection is ready (at once if it already is); rejects after `timeoutMs`. */
export function redisReady(redis: RedisClient, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new Error(`Redis was not ready within ${timeoutMs} ms (connection ${redis.status})`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    redis.once('ready', onReady);
  });
}
