/** Every status a job can be in. */
export const jobStatuses = ['queued', 'active', 'completed', 'failed', 'cancelled', 'expired'] as const;
export type JobStatus = (typeof jobStatuses)[number];

/** The statuses a job ends in; its Postgres row holds one of these. */
export const terminalStatuses = ['completed', 'failed', 'cancelled', 'expired'] as const;
export type TerminalStatus = (typeof terminalStatuses)[number];

export function isTerminalStatus(status: string): status is TerminalStatus {
  return (terminalStatuses as readonly string[]).includes(status);
}
