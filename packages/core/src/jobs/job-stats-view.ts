import type { TerminalStatus } from './job-status.js';

/** How many jobs ended in each terminal status. */
export type OutcomeCounts = Record<TerminalStatus, number>;

/** The body of GET /v1/stats: a tenant's finished jobs per outcome, in total and per minute. */
export interface JobStats {
  minutes: number;
  /** The start of the first minute counted. */
  from: string;
  /** Now: the last minute counted is the current one, still filling. */
  to: string;
  totals: OutcomeCounts;
  /** One entry per minute of the window, oldest first, empty minutes included. */
  perMinute: ({ at: string } & OutcomeCounts)[];
}
