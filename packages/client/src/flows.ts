import type { StatusEvent } from '@conveyor/core/events';
import type { ChildFailurePolicy, JobStatus } from '@conveyor/core/jobs';
import type { JobDefinitions, SubmitData, TypeName, UntypedJobs } from './job-definitions.js';

/** A job's submit options that a flow node may carry (an Idempotency-Key names a whole flow). */
export interface FlowNodeOptions {
  /** The node's job id; on the root, the flow's id (submitting it again returns the flow). */
  id?: string;
  priority?: number;
  delayMs?: number;
  runAt?: string;
  attempts?: number;
  timeoutMs?: number;
  metadata?: Record<string, unknown>;
  /** Expire the job if not started this many ms after it is due; not with expiresAt. */
  ttlMs?: number;
  /** Expire the job if not started by this ISO 8601 time. */
  expiresAt?: string;
  /** POST the job's terminal status event here (signed with the tenant's signing secret). */
  callbackUrl?: string;
}

/**
 * `data` of type `T`: required, unless the type's input accepts undefined (then it may be
 * left out, as the API allows).
 */
type NodeData<J extends JobDefinitions, T extends TypeName<J>> =
  undefined extends SubmitData<J, T> ? { data?: SubmitData<J, T> } : { data: SubmitData<J, T> };

/**
 * A flow's root as submitFlow sends it: a job of one of `J`'s types with its data, and the
 * jobs it waits for as `children` (each of any type of `J`, with children of its own).
 */
export type FlowNode<J extends JobDefinitions = UntypedJobs> = {
  [T in TypeName<J>]: { type: T; children?: readonly FlowChild<J>[] } & NodeData<J, T> & FlowNodeOptions;
}[TypeName<J>];

/** A node below the root: a FlowNode with what its failure does to its parent. */
export type FlowChild<J extends JobDefinitions = UntypedJobs> = FlowNode<J> & {
  /**
   * What this child failing (failed, cancelled or expired) does to its parent: `fail` (the
   * parent fails with CHILD_FAILED, unrun), `ignore` (the parent runs and sees it in
   * ctx.children()) or `remove` (the parent runs without it). @defaultValue 'fail'
   */
  onFailure?: ChildFailurePolicy;
};

/** One node of a flow, as the API shows it. */
export interface FlowNodeView {
  /** The node's job id (GET /v1/jobs/:id shows the job). */
  id: string;
  type: string;
  queue: string;
  /** Its parent's id; null for the root. */
  parentId: string | null;
  /** Where it was in the submitted body: '' for the root, `children.1.children.0` below. */
  path: string;
  onFailure: ChildFailurePolicy;
  status: JobStatus;
  links: { self: string; events: string };
}

/** A flow: its root's status (the flow's) and every node's, root first in depth-first order. */
export interface FlowView {
  /** The flow's id: its root job's. */
  id: string;
  status: JobStatus;
  createdAt: string;
  nodes: FlowNodeView[];
  links: { self: string; events: string };
}

/** Options of submitFlow. */
export interface SubmitFlowOptions {
  /** Names the flow (the root's id is derived from it): submitting it again returns the flow. */
  idempotencyKey?: string;
}

/** A flow stream item: the flow's snapshot first, then the status events of any of its nodes. */
export type FlowWatchItem = { kind: 'snapshot'; flow: FlowView } | { kind: 'event'; event: StatusEvent };
