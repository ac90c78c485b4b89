import { sql } from 'drizzle-orm';
import type { JobTypeRegistration } from '../jobs/registration.js';
import type { Db } from './connect.js';
import { type JobTypeRow, jobTypes } from './schema.js';

/**
 * Registers job types, or says again that a worker serves them (a heartbeat): a new
 * (name, version) is inserted, a known one gets `last_seen_at` = now. Idempotent; the only
 * writer of the registry is a worker's own database connection.
 */
export async function registerJobTypes(db: Db, registrations: readonly JobTypeRegistration[]): Promise<void> {
  if (registrations.length === 0) return;
  const now = new Date();
  await db
    .insert(jobTypes)
    .values(registrations.map((r) => toJobTypeRow(r, now)))
    .onConflictDoUpdate({ target: [jobTypes.name, jobTypes.version], set: { lastSeenAt: sql`now()` } });
}

/** The row of a registration first registered, and last seen, at `at`. */
export function toJobTypeRow(registration: JobTypeRegistration, at = new Date()): JobTypeRow {
  const { name, version, description, queue, options, inputSchema } = registration;
  return {
    name,
    version,
    description,
    queue,
    options,
    inputSchema: inputSchema as Record<string, unknown>,
    registeredAt: at,
    lastSeenAt: at,
  };
}

/** Every registered version of every job type, the most recently registered first. */
export function readJobTypes(db: Db): Promise<JobTypeRow[]> {
  return db.select().from(jobTypes).orderBy(sql`${jobTypes.name}, ${jobTypes.registeredAt} desc`);
}
