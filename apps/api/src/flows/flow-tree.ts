import { ConveyorError, type FieldIssue } from '@conveyor/core/errors';
import { type ChildFailurePolicy, childFailurePolicies } from '@conveyor/core/jobs';

/** Most jobs one flow may hold, the root included. */
export const MAX_FLOW_NODES = 1_000;
/** Most levels one flow may have: the root is level 1. */
export const MAX_FLOW_DEPTH = 10;

/** One node of a submitted flow, before its job is prepared. */
export interface FlowNodeInput {
  /** Where it is in the body: '' for the root, `children.1.children.0` below. */
  path: string;
  /** 1 for the root. */
  depth: number;
  /** Index of its parent in the node list; undefined for the root. */
  parent: number | undefined;
  /** Indexes of its children, in body order. */
  children: number[];
  /** The node's submit body: everything but `children` and `onFailure`. */
  body: Record<string, unknown>;
  onFailure: ChildFailurePolicy;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** `path` and `field` joined as the 400's issue path (`children.0` + `data` → `children.0.data`). */
export const at = (path: string, field: string) =>
  path === '' ? field : field === '' ? path : `${path}.${field}`;

/**
 * The nodes of a flow body, root first in depth-first order, with each node's own submit
 * body split from its `children` and `onFailure`, and the issues of its shape (each naming
 * its node's path): a node that is not an object, children that are not a list, `onFailure`
 * on the root or of an unknown kind, more than MAX_FLOW_DEPTH levels. A flow past
 * MAX_FLOW_NODES jobs is refused at once (400), before anything else is read.
 */
export function flowNodes(raw: unknown): { nodes: FlowNodeInput[]; issues: FieldIssue[] } {
  const nodes: FlowNodeInput[] = [];
  const issues: FieldIssue[] = [];
  const stack: { value: unknown; path: string; depth: number; parent: number | undefined }[] = [
    { value: raw, path: '', depth: 1, parent: undefined },
  ];
  let seen = 0;
  while (stack.length > 0) {
    const { value, path, depth, parent } = stack.pop() as (typeof stack)[number];
    seen++;
    if (!isObject(value)) {
      issues.push({ path, message: 'must be a job: an object with a type' });
      continue;
    }
    const { children, onFailure, ...body } = value;
    if (parent === undefined && onFailure !== undefined) {
      issues.push({
        path: 'onFailure',
        message: 'only a child has one: it says what its failure does to its parent',
      });
    } else if (onFailure !== undefined && !childFailurePolicies.includes(onFailure as ChildFailurePolicy)) {
      issues.push({
        path: at(path, 'onFailure'),
        message: `must be one of ${childFailurePolicies.join(', ')}`,
      });
    }
    const index = nodes.length;
    nodes.push({
      path,
      depth,
      parent,
      children: [],
      body,
      onFailure: (onFailure as ChildFailurePolicy | undefined) ?? 'fail',
    });
    if (parent !== undefined) nodes[parent]?.children.push(index);
    if (children === undefined) continue;
    if (!Array.isArray(children)) {
      issues.push({ path: at(path, 'children'), message: 'must be a list of jobs' });
      continue;
    }
    if (children.length > 0 && depth >= MAX_FLOW_DEPTH) {
      issues.push({ path: at(path, 'children'), message: `a flow has at most ${MAX_FLOW_DEPTH} levels` });
      continue;
    }
    if (seen + stack.length + children.length > MAX_FLOW_NODES) {
      throw new ConveyorError(
        'VALIDATION_FAILED',
        `invalid flow: it holds more than ${MAX_FLOW_NODES} jobs; split it into flows of at most ${MAX_FLOW_NODES}`,
        { issues: [{ path: at(path, 'children'), message: `a flow holds at most ${MAX_FLOW_NODES} jobs` }] },
      );
    }
    // Pushed in reverse so they pop in body order: the node list is depth-first, in order.
    for (let i = children.length - 1; i >= 0; i--) {
      stack.push({ value: children[i], path: at(path, `children.${i}`), depth: depth + 1, parent: index });
    }
  }
  return { nodes, issues };
}
