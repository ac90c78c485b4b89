import { randomUUID } from 'node:crypto';
import { type Database, type FlowNodeRecord, type FlowRow, flows, jobs } from '@conveyor/core/db';
import { ConveyorError, isConveyorError } from '@conveyor/core/errors';
import {
  type FlowNodeView,
  type FlowPlace,
  type FlowView,
  isTerminalStatus,
  type JobEnvelope,
  type JobStatus,
  nameUuid,
  queueJobId,
  statusOfState,
} from '@conveyor/core/jobs';
import type { AddressGuard } from '@conveyor/core/net';
import { createTenantInFlight, isCluster, queuePrefix, type RedisClient } from '@conveyor/core/redis';
import { type FlowJob, FlowProducer, type JobsOptions } from 'bullmq';
import { and, eq, inArray } from 'drizzle-orm';
import type { JobTypeRegistry } from '../job-types/job-type-registry.js';
import { jobIdForKey, requestHash } from '../jobs/idempotency.js';
import { type JobControl, retryToEnqueue } from '../jobs/job-control.js';
import type { JobStore } from '../jobs/job-store.js';
import { createSubmitPreparer, type PreparedJob, type SubmitOrigin } from '../jobs/prepare-submit.js';
import { createTenantSlots } from '../jobs/tenant-slots.js';
import { orUnavailable } from '../jobs/unavailable.js';
import type { QueueSet } from '../queues.js';
import { at, flowNodes } from './flow-tree.js';

export interface FlowService {
  /** Submits a flow: 202 (created) with every node's id, or the flow its id or key already names. */
  submit(
    tenant: string,
    body: unknown,
    idempotencyKey?: string,
    origin?: SubmitOrigin,
  ): Promise<{ created: boolean; flow: FlowView }>;
  /** The flow and each node's status now; FLOW_NOT_FOUND for one the tenant does not have. */
  get(tenant: string, id: string): Promise<FlowView>;
  /** The flow's row, if the tenant has it. */
  find(tenant: string, id: string): Promise<FlowRow | undefined>;
  /** Cancels every unfinished node, children before parents; 409 once the flow has ended. */
  cancel(tenant: string, id: string): Promise<FlowView>;
  /**
   * Runs the failed, cancelled and expired nodes of an ended flow again, with every node that
   * waits on them (each as its next generation); the completed rest stay as they are.
   */
  retry(tenant: string, id: string, origin?: SubmitOrigin): Promise<FlowView>;
}

export interface FlowServiceDeps {
  registry: JobTypeRegistry;
  queues: QueueSet;
  store: JobStore;
  control: Pick<JobControl, 'cancelAll'>;
  database: Database;
  /** The producer connection. */
  redis: RedisClient;
  guard: AddressGuard;
  tenantMaxInFlight?: number;
}

/** A node ready for BullMQ: its type, its BullMQ queue, its envelope and options. */
interface Enqueued {
  name: string;
  queue: string;
  envelope: JobEnvelope;
  options: JobsOptions;
}

const flowLinks = (id: string) => ({ self: `/v1/flows/${id}`, events: `/v1/flows/${id}/events` });
/** A node as the API shows it, with its status now. */
const nodeView = (node: FlowNodeRecord, status: JobStatus): FlowNodeView => ({
  id: node.id,
  type: node.type,
  queue: node.queue,
  parentId: node.parentId,
  path: node.path,
  onFailure: node.onFailure,
  status,
  links: { self: `/v1/jobs/${node.id}`, events: `/v1/jobs/${node.id}/events` },
});

/**
 * Flows: a tree of jobs submitted at once (POST /v1/flows), each node a normal job that runs
 * only after its children end. The tree is validated whole, recorded in `flows`, then
 * enqueued in one step with BullMQ's FlowProducer (one MULTI).
 */
export function createFlowService(deps: FlowServiceDeps): FlowService {
  const { registry, queues, store, control, database, redis } = deps;
  const inFlight = createTenantInFlight(redis, queues.prefix);
  const { prepare, lookUpTypes } = createSubmitPreparer(deps);
  const slots = createTenantSlots(redis, queues.prefix, deps.tenantMaxInFlight ?? 0);
  const producer = new FlowProducer({ connection: redis, prefix: queues.prefix });
  producer.on('error', () => {});

  async function find(tenant: string, id: string): Promise<FlowRow | undefined> {
    const [row] = await orUnavailable('Postgres', () =>
      database.db
        .select()
        .from(flows)
        .where(and(eq(flows.tenant, tenant), eq(flows.id, id))),
    );
    return row;
  }

  /** Each node's status: its terminal row's (of its latest generation), else BullMQ's state of it. */
  async function view(tenant: string, row: FlowRow): Promise<FlowView> {
    const ids = row.nodes.map((node) => node.id);
    const ended = await orUnavailable('Postgres', () =>
      database.db
        .select({ id: jobs.id, status: jobs.status, generation: jobs.generation })
        .from(jobs)
        .where(and(eq(jobs.tenant, tenant), inArray(jobs.id, ids))),
    );
    const latest = new Map(row.nodes.map((node) => [node.id, node.generation ?? 0]));
    const statusOf = new Map<string, JobStatus>(
      ended.filter((r) => r.generation >= (latest.get(r.id) ?? 0)).map((r) => [r.id, r.status]),
    );
    const pending = row.nodes.filter((node) => !statusOf.has(node.id));
    if (pending.length > 0) {
      queues.assertConnected();
      // With auto-pipelining these share a round trip.
      const states = await orUnavailable('Redis', () =>
        Promise.all(
          pending.map((node) => queues.get(node.bullQueue).getJobState(queueJobId(tenant, node.id))),
        ),
      );
      pending.forEach((node, n) => {
        statusOf.set(node.id, statusOfState[states[n] ?? 'unknown'] ?? 'queued');
      });
    }
    const nodes = row.nodes.map((node) => nodeView(node, statusOf.get(node.id) ?? 'queued'));
    return {
      id: row.id,
      status: nodes[0]?.status ?? 'queued',
      createdAt: row.createdAt.toISOString(),
      nodes,
      links: flowLinks(row.id),
    };
  }

  /** Every node prepared as a job (a 400 names each bad field by its node's path). */
  function prepareNodes(
    tenant: string,
    raw: unknown,
    idempotencyKey: string | undefined,
    origin: SubmitOrigin | undefined,
  ): { rootId: string; keyed: boolean; chosen: string[]; jobs: PreparedJob[]; records: FlowNodeRecord[] } {
    const { nodes, issues } = flowNodes(raw);
    if (nodes.length === 0) {
      throw new ConveyorError(
        'VALIDATION_FAILED',
        'invalid flow: the body must be a job: an object with a type',
        {
          issues,
        },
      );
    }
    const root = nodes[0] as (typeof nodes)[number];
    const rootChosen = typeof root.body.id === 'string' ? root.body.id : undefined;
    let rootId = rootChosen ?? randomUUID();
    if (idempotencyKey !== undefined) {
      if (rootChosen !== undefined && rootChosen !== jobIdForKey(tenant, idempotencyKey)) {
        issues.push({
          path: 'id',
          message: 'leave id out when sending an Idempotency-Key: the key names the flow',
        });
      }
      rootId = jobIdForKey(tenant, idempotencyKey);
    }
    const keyed = rootChosen !== undefined || idempotencyKey !== undefined;
    // A repeat of a keyed flow must name the same jobs: a node without an id of its own gets
    // one derived from the flow's id and its path.
    const ids = nodes.map((node, n) => {
      if (n === 0) return rootId;
      if (typeof node.body.id === 'string') return node.body.id;
      return keyed ? nameUuid('flow-node', tenant, rootId, node.path) : randomUUID();
    });
    const firstPath = new Map<string, string>();
    ids.forEach((id, n) => {
      const path = nodes[n]?.path ?? '';
      const earlier = firstPath.get(id);
      if (earlier !== undefined) {
        issues.push({ path: at(path, 'id'), message: `same id as ${earlier === '' ? 'the root' : earlier}` });
      } else firstPath.set(id, path);
    });
    const prepared: (PreparedJob | undefined)[] = nodes.map((node, n) => {
      const id = ids[n] as string;
      const place: FlowPlace = {
        id: rootId,
        ...(node.parent === undefined ? {} : { parentId: ids[node.parent] }),
        ...(node.children.length > 0
          ? {
              children: node.children.map((c) => ({
                id: ids[c] as string,
                onFailure: nodes[c]?.onFailure ?? 'fail',
              })),
            }
          : {}),
      };
      try {
        const body = n === 0 && idempotencyKey !== undefined ? node.body : { ...node.body, id };
        return prepare(tenant, body, n === 0 ? idempotencyKey : undefined, origin, place);
      } catch (error) {
        if (!isConveyorError(error)) throw error;
        const errors = error.issues.length > 0 ? error.issues : [{ path: '', message: error.message }];
        for (const e of errors) issues.push({ path: at(node.path, e.path), message: e.message });
        return undefined;
      }
    });
    if (issues.length > 0) {
      const summary = issues.map((i) => `${i.path || '(body)'}: ${i.message}`).join('; ');
      throw new ConveyorError('VALIDATION_FAILED', `invalid flow: ${summary}; nothing was enqueued`, {
        issues,
      });
    }
    const ready = prepared as PreparedJob[];
    // On a cluster a flow is one MULTI and a child's end updates its parent's keys: every
    // node must be in one BullMQ queue (one hash slot); a partitioned queue's flow goes to the
    // partition its root's id picks.
    if (isCluster(redis)) {
      const rootJob = ready[0] as PreparedJob;
      const other = ready.findIndex((job) => job.definition.queue !== rootJob.definition.queue);
      if (other !== -1) {
        const path = nodes[other]?.path ?? '';
        throw new ConveyorError(
          'VALIDATION_FAILED',
          `invalid flow: on a Redis Cluster every job of a flow must be on one queue (the root's is ${rootJob.definition.queue}, ${path}'s ${ready[other]?.definition.queue})`,
          {
            issues: [
              { path: at(path, 'type'), message: `must be a type on queue ${rootJob.definition.queue}` },
            ],
          },
        );
      }
      for (const job of ready) job.queue = rootJob.queue;
    }
    const records = ready.map((job, n) => {
      const node = nodes[n] as (typeof nodes)[number];
      return {
        id: job.id,
        type: job.definition.name,
        queue: job.definition.queue,
        bullQueue: job.queue,
        parentId: node.parent === undefined ? null : (ids[node.parent] ?? null),
        path: node.path,
        onFailure: node.onFailure,
      };
    });
    // The ids a client chose (the root's by id or key, a child's by id): each must be new.
    const chosen = ids.filter((_, n) => (n === 0 ? keyed : typeof nodes[n]?.body.id === 'string'));
    return { rootId, keyed, chosen, jobs: ready, records };
  }

  /** The BullMQ flow of `items` (the flow's nodes, root first): node `n` with its children below it. */
  function flowJob(items: readonly Enqueued[], n: number, childOf: ReadonlyMap<number, number[]>): FlowJob {
    const item = items[n] as Enqueued;
    const children = (childOf.get(n) ?? []).map((c): FlowJob => flowJob(items, c, childOf));
    return {
      name: item.name,
      queueName: item.queue,
      prefix: queuePrefix(queues.prefix, item.queue, redis),
      data: item.envelope,
      // Every child's failure is noted, never BullMQ's to act on: the parent's worker applies
      // the child's onFailure once all have ended (see the worker's flow gate).
      opts: n === 0 ? item.options : { ...item.options, ignoreDependencyOnFailure: true },
      ...(children.length > 0 ? { children } : {}),
    };
  }

  /** Enqueues `items` (a flow's nodes, root first, in `records`' order) as one BullMQ flow: one MULTI. */
  async function enqueueTree(items: readonly Enqueued[], records: readonly FlowNodeRecord[]): Promise<void> {
    const childOf = new Map<number, number[]>();
    records.forEach((record, n) => {
      if (record.parentId === null) return;
      const parent = records.findIndex((r) => r.id === record.parentId);
      childOf.set(parent, [...(childOf.get(parent) ?? []), n]);
    });
    // All of the tree is in Redis, or none of it. BullMQ keeps one job per id, so a repeat
    // racing this one adds nothing twice.
    await orUnavailable('Redis', () => producer.add(flowJob(items, 0, childOf)));
  }

  /** The flow of `id`, or FLOW_NOT_FOUND. */
  async function flowRow(tenant: string, id: string): Promise<FlowRow> {
    const row = await find(tenant, id);
    if (!row) throw new ConveyorError('FLOW_NOT_FOUND', `no flow with id ${id}`);
    return row;
  }

  return {
    find,
    async cancel(tenant, id) {
      const row = await flowRow(tenant, id);
      const before = await view(tenant, row);
      if (isTerminalStatus(before.status)) {
        throw new ConveyorError('CONFLICT', `flow ${id} has already ended (${before.status})`);
      }
      // Children before parents (the node list reversed: every node comes after all of its
      // descendants), so no parent is let go by a child's removal and then run.
      const unfinished = before.nodes.filter((node) => !isTerminalStatus(node.status)).map((node) => node.id);
      await control.cancelAll(tenant, unfinished.reverse());
      return view(tenant, row);
    },

    async retry(tenant, id, origin = {}) {
      const row = await flowRow(tenant, id);
      const current = await view(tenant, row);
      if (!isTerminalStatus(current.status)) {
        throw new ConveyorError('CONFLICT', `flow ${id} is still in flight; retry it once it has ended`);
      }
      // The nodes that did not complete, and every node that waits on them up to the root.
      const byId = new Map(row.nodes.map((node) => [node.id, node]));
      const again = new Set<string>();
      for (const node of current.nodes) {
        if (node.status === 'completed') continue;
        for (let at: FlowNodeRecord | undefined = byId.get(node.id); at && !again.has(at.id); ) {
          again.add(at.id);
          at = at.parentId === null ? undefined : byId.get(at.parentId);
        }
      }
      if (again.size === 0) throw new ConveyorError('CONFLICT', `flow ${id} completed; nothing to retry`);
      const records = row.nodes.filter((node) => again.has(node.id));
      const ended = await orUnavailable('Postgres', () =>
        database.db
          .select()
          .from(jobs)
          .where(and(eq(jobs.tenant, tenant), inArray(jobs.id, [...again]))),
      );
      const rowOf = new Map(ended.map((r) => [r.id, r]));
      const items = records.map((node): Enqueued => {
        const last = rowOf.get(node.id);
        if (!last) {
          throw new ConveyorError(
            'CONFLICT',
            `node ${node.id} of flow ${id} is still stopping; retry in a moment`,
            {
              retryable: true,
            },
          );
        }
        const definition = registry.get(node.type);
        if (!definition) throw new ConveyorError('CONFLICT', `job type ${node.type} is no longer registered`);
        // Its place as submitted: its parent, and all of its children (the completed ones are
        // read from their rows; the ones run again are waited for in their new generation).
        const children = row.nodes
          .filter((child) => child.parentId === node.id)
          .map((child) => ({ id: child.id, onFailure: child.onFailure }));
        const place: FlowPlace = {
          id: row.id,
          ...(node.parentId === null ? {} : { parentId: node.parentId }),
          ...(children.length > 0 ? { children } : {}),
        };
        const { envelope, options } = retryToEnqueue(definition, last, origin, place);
        return { name: node.type, queue: node.bullQueue, envelope, options };
      });
      queues.assertConnected();
      // The previous runs leave Redis first (BullMQ keeps one job per id), children first.
      for (const node of [...records].reverse()) {
        const old = await orUnavailable('Redis', () =>
          queues.get(node.bullQueue).getJob(queueJobId(tenant, node.id)),
        );
        const removed = old
          ? await old.remove({ removeChildren: false }).then(
              () => true,
              () => false,
            )
          : true;
        if (!removed) {
          throw new ConveyorError(
            'CONFLICT',
            `node ${node.id} of flow ${id} is still stopping; retry in a moment`,
            {
              retryable: true,
            },
          );
        }
      }
      const generations = new Map(items.map((item) => [item.envelope.id, item.envelope.generation ?? 0]));
      const nodes = row.nodes.map((node) =>
        generations.has(node.id) ? { ...node, generation: generations.get(node.id) } : node,
      );
      // In flight again, like a submit (not refused by the tenant's cap: they replace jobs
      // that already counted).
      const entries = records.map((node) => ({
        queue: node.bullQueue,
        jobId: queueJobId(tenant, node.id),
        at: Date.now(),
      }));
      await orUnavailable('Redis', () => inFlight.reserve(tenant, entries));
      try {
        await enqueueTree(items, records);
      } catch (error) {
        await inFlight.release(tenant, entries).catch(() => {});
        throw error;
      }
      // Recorded once enqueued: until then GET shows the last generation's rows.
      await orUnavailable('Postgres', () =>
        database.db
          .update(flows)
          .set({ nodes })
          .where(and(eq(flows.tenant, tenant), eq(flows.id, row.id))),
      );
      return view(tenant, { ...row, nodes });
    },

    async get(tenant, id) {
      const row = await find(tenant, id);
      if (!row) throw new ConveyorError('FLOW_NOT_FOUND', `no flow with id ${id}`);
      return view(tenant, row);
    },

    async submit(tenant, raw, idempotencyKey, origin) {
      await lookUpTypes(collectBodies(raw));
      const {
        rootId,
        keyed,
        chosen,
        jobs: prepared,
        records,
      } = prepareNodes(tenant, raw, idempotencyKey, origin);
      const hash = requestHash(raw);
      if (keyed) {
        const existing = await find(tenant, rootId);
        if (existing) {
          if (existing.requestHash !== hash) {
            throw new ConveyorError('CONFLICT', `flow ${rootId} was already submitted with a different body`);
          }
          return { created: false, flow: await view(tenant, existing) };
        }
      }
      // A client-chosen id must not name a job the tenant already has outside this flow.
      const known = await Promise.all(chosen.map((id) => store.find(tenant, id)));
      const taken = known.findIndex((found) => found !== undefined);
      if (taken !== -1) {
        const id = chosen[taken] ?? '';
        const path = records.find((r) => r.id === id)?.path ?? '';
        throw new ConveyorError(
          'CONFLICT',
          `id ${id} (${path || 'the root'}) already names a job of this tenant`,
        );
      }
      queues.assertConnected();
      await slots.reserve(tenant, prepared);
      let inserted = false;
      let createdAt = new Date();
      try {
        const rows = await orUnavailable('Postgres', () =>
          database.db
            .insert(flows)
            .values({
              id: rootId,
              tenant,
              nodes: records,
              idempotencyKey: idempotencyKey ?? null,
              requestHash: hash,
            })
            .onConflictDoNothing()
            .returning({ createdAt: flows.createdAt }),
        );
        inserted = rows.length > 0;
        createdAt = rows[0]?.createdAt ?? new Date();
        await enqueueTree(
          prepared.map((job) => ({
            name: job.definition.name,
            queue: job.queue,
            envelope: job.envelope,
            options: job.options,
          })),
          records,
        );
      } catch (error) {
        await slots.release(tenant, prepared);
        if (inserted) {
          await database.db
            .delete(flows)
            .where(and(eq(flows.tenant, tenant), eq(flows.id, rootId)))
            .catch(() => {});
        }
        throw error;
      }
      const nodes = records.map((node) => nodeView(node, 'queued'));
      return {
        created: true,
        flow: {
          id: rootId,
          status: 'queued',
          createdAt: createdAt.toISOString(),
          nodes,
          links: flowLinks(rootId),
        },
      };
    },
  };
}

/** Every node body of a raw flow (for looking up their types), whatever its shape. */
function collectBodies(raw: unknown): unknown[] {
  const bodies: unknown[] = [];
  const stack = [raw];
  while (stack.length > 0 && bodies.length <= 1_000) {
    const node = stack.pop();
    bodies.push(node);
    const children = (node as { children?: unknown } | null)?.children;
    if (Array.isArray(children)) stack.push(...children);
  }
  return bodies;
}
