import type { JobState } from 'bullmq';
import { queuePrefix, type RedisClient } from '../redis/connect.js';
import type { JobStatus } from './job-status.js';

/**
 * BullMQ's words, in one place: the states Conveyor reads, what each means as a Conveyor
 * status, and the Redis keys Conveyor reads without going through a BullMQ call. Everything
 * else about a queue goes through BullMQ's own API.
 */

/** States of a job no worker has started: a cancel removes it rather than signal a worker. */
export const NOT_STARTED_STATES: ReadonlySet<string> = new Set<JobState | 'paused'>([
  'waiting',
  'delayed',
  'prioritized',
  'paused',
  'waiting-children',
]);

/** The states GET /v1/queues counts per queue. */
export const QUEUE_COUNT_STATES = [
  'waiting',
  'prioritized',
  'delayed',
  'active',
  'completed',
  'failed',
] as const;

/** The states the depth gauge reads (`wait` is BullMQ's count name for waiting; paused is told apart). */
export const DEPTH_COUNT_STATES = ['wait', 'prioritized', 'delayed', 'active', 'failed'] as const;

/**
 * Conveyor's status of a job in each BullMQ state. A job BullMQ holds as `failed` or
 * `completed` has a terminal row, which says more (failed, cancelled or expired).
 */
export const statusOfState: Readonly<Record<JobState | 'unknown', JobStatus>> = {
  waiting: 'queued',
  delayed: 'queued',
  prioritized: 'queued',
  'waiting-children': 'queued',
  unknown: 'queued',
  active: 'active',
  completed: 'completed',
  failed: 'failed',
};

/**
 * A key of queue `queue` in BullMQ's layout (`<queue prefix>:<queue>:<name>`, e.g. `meta`,
 * `wait`), under the queue's prefix on `client` (`queuePrefix`: hash-tagged on a cluster).
 */
export function bullQueueKey(prefix: string, queue: string, client: RedisClient, name: string): string {
  return `${queuePrefix(prefix, queue, client)}:${queue}:${name}`;
}

/** A job's Redis key prefix in its queue (BullMQ's own layout: `<prefix>:<queue>:<id>`). */
export function bullJobKey(job: { queueQualifiedName: string; id?: string | undefined }): string {
  return `${job.queueQualifiedName}:${job.id ?? ''}`;
}

/** The Redis list of a job's log lines (what `job.log()` appends to). */
export function bullJobLogsKey(job: { queueQualifiedName: string; id?: string | undefined }): string {
  return `${bullJobKey(job)}:logs`;
}
