import type { StatusEvent } from '@conveyor/core/events';
import type { ChildFailurePolicy, FlowView } from '@conveyor/core/jobs';

export type { FlowNodeView, FlowView } from '@conveyor/core/jobs';

import type { SubmitOptions } from './client.js';
import type { JobDefinitions, SubmitData, TypeName, UntypedJobs } from './job-definitions.js';

/** A job's submit options that a flow node may carry (an Idempotency-Key names a whole flow). */
export type FlowNodeOptions = Omit<SubmitOptions, 'idempotencyKey'>;

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

/** Options of submitFlow. */
export interface SubmitFlowOptions {
  /** Names the flow (the root's id is derived from it): submitting it again returns the flow. */
  idempotencyKey?: string;
}

/** A flow stream item: the flow's snapshot first, then the status events of any of its nodes. */
export type FlowWatchItem = { kind: 'snapshot'; flow: FlowView } | { kind: 'event'; event: StatusEvent };
