import type { JobStatus } from './job-status.js';
import type { ChildFailurePolicy } from './submit.js';

/** One node of a flow as the API shows it (GET /v1/flows/:id). */
export interface FlowNodeView {
  /** The node's job id (GET /v1/jobs/:id shows the job). */
  id: string;
  type: string;
  queue: string;
  /** Its parent's id; null for the root. */
  parentId: string | null;
  /** Where it was in the submitted body: '' for the root, `children.1.children.0` below. */
  path: string;
  /** What its failure does to its parent. */
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
