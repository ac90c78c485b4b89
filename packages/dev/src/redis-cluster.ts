import { Redis } from 'ioredis';
import { type RedisServerHandle, startRedisServer } from './redis-server.js';

const SLOTS = 16_384;

export interface RedisClusterOptions {
  /** @defaultValue 3 */
  masters?: number;
  /** Replicas of each master (a failover drill needs one). @defaultValue 0 */
  replicasPerMaster?: number;
  /** How long a node may be unreachable before the cluster fails it over. @defaultValue 2,000 ms */
  nodeTimeoutMs?: number;
}

export interface RedisClusterHandle {
  /** The masters first, in slot order, then the replicas. */
  nodes: RedisServerHandle[];
  /** `REDIS_CLUSTER_NODES` for this cluster: every node as host:port. */
  seeds: string;
  /** The node whose master serves `key` now (after a failover, the promoted replica). */
  nodeFor(key: string): Promise<RedisServerHandle>;
  stop(): Promise<void>;
}

/**
 * Starts a real Redis Cluster of private redis-servers on free ports (from the PATH, as
 * startRedisServer): the slots split evenly over the masters, each master with its
 * replicas, and resolves once every node reports `cluster_state:ok` and knows every other.
 *
 * @example
 * const cluster = await startRedisCluster({ masters: 3 });
 * // REDIS_CLUSTER_NODES=cluster.seeds …
 * await cluster.stop();
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisClusterHandle> {
  const masters = options.masters ?? 3;
  const replicas = options.replicasPerMaster ?? 0;
  const total = masters * (1 + replicas);
  const nodes = await Promise.all(
    Array.from({ length: total }, () =>
      startRedisServer({
        extraArgs: [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-node-timeout',
          String(options.nodeTimeoutMs ?? 2_000),
        ],
      }),
    ),
  );
  const clients = nodes.map((node) => new Redis(node.url, { lazyConnect: false, maxRetriesPerRequest: 3 }));
  try {
    for (let i = 0; i < masters; i++) {
      const from = Math.floor((i * SLOTS) / masters);
      const to = Math.floor(((i + 1) * SLOTS) / masters) - 1;
      await clients[i]?.call('CLUSTER', 'ADDSLOTSRANGE', from, to);
    }
    for (const node of nodes.slice(1)) await clients[0]?.call('CLUSTER', 'MEET', '127.0.0.1', node.port);
    await until(async () => {
      const known = await Promise.all(clients.map((c) => info(c, 'cluster_known_nodes')));
      return known.every((n) => Number(n) === total);
    }, 'every node to know every other');
    const masterIds = await Promise.all(clients.slice(0, masters).map((c) => c.call('CLUSTER', 'MYID')));
    for (let r = 0; r < masters * replicas; r++) {
      await clients[masters + r]?.call('CLUSTER', 'REPLICATE', String(masterIds[r % masters]));
    }
    await until(async () => {
      const states = await Promise.all(clients.map((c) => info(c, 'cluster_state')));
      return states.every((s) => s === 'ok');
    }, 'cluster_state:ok on every node');
    if (replicas > 0) {
      await until(async () => {
        const roles = await Promise.all(clients.slice(masters).map((c) => c.info('replication')));
        return roles.every((r) => /master_link_status:up/.test(r));
      }, 'every replica to sync with its master');
    }
  } catch (error) {
    await Promise.all(nodes.map((node) => node.stop()));
    throw error;
  } finally {
    for (const client of clients) client.disconnect();
  }
  return {
    nodes,
    seeds: nodes.map((node) => `127.0.0.1:${node.port}`).join(','),
    async nodeFor(key) {
      for (const node of nodes) {
        const client = new Redis(node.url, { maxRetriesPerRequest: 1, retryStrategy: () => null });
        client.on('error', () => {});
        try {
          const slot = Number(await client.call('CLUSTER', 'KEYSLOT', key));
          const port = masterPort((await client.call('CLUSTER', 'SHARDS')) as unknown[], slot);
          const owner = nodes.find((n) => n.port === port);
          if (owner) return owner;
        } catch {
          // a stopped node: ask the next
        } finally {
          client.disconnect();
        }
      }
      throw new Error(`no node of the cluster names the master of ${key}'s slot`);
    },
    async stop() {
      await Promise.all(nodes.map((node) => node.stop()));
    },
  };
}

/** One field of CLUSTER INFO. */
async function info(client: Redis, field: string): Promise<string | undefined> {
  const text = String(await client.call('CLUSTER', 'INFO'));
  return new RegExp(`^${field}:(\\S+)`, 'm').exec(text)?.[1];
}

/** The port of the master CLUSTER SHARDS names for `slot`. */
function masterPort(shards: unknown[], slot: number): number | undefined {
  for (const shard of shards) {
    const fields = shard as unknown[];
    const ranges = fields[fields.indexOf('slots') + 1] as number[];
    const inRange = ranges.some((from, i) => i % 2 === 0 && slot >= from && slot <= (ranges[i + 1] ?? -1));
    if (!inRange) continue;
    for (const node of fields[fields.indexOf('nodes') + 1] as unknown[][]) {
      const at = (name: string) => node[node.indexOf(name) + 1];
      if (at('role') === 'master' && at('health') !== 'fail') return Number(at('port'));
    }
  }
  return undefined;
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`Redis Cluster: timed out after ${timeoutMs} ms waiting for ${what}`);
}
