import { eq, sql } from 'drizzle-orm';
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

/** A version whose workers said so this recently is live. @see appliedVersion */
export const LIVE_TYPE_MS = 90_000;

/**
 * Which version of a type is applied (submits validated with, schedules enqueued with): the
 * most recently registered among those a worker served within the last 90 s (three
 * heartbeats), or else the most recently registered. So a rolling deploy switches to the new
 * version as soon as one of its workers starts, and a rolled-back one switches back once its
 * workers are gone. `versions`: one type's rows, the most recently registered first.
 */
export function appliedVersion(versions: readonly JobTypeRow[], now = Date.now()): JobTypeRow | undefined {
  return versions.find((r) => now - r.lastSeenAt.getTime() < LIVE_TYPE_MS) ?? versions[0];
}

/**
 * Each registered type's applied version (see appliedVersion) with all its versions, from
 * readJobTypes' rows (the most recently registered first within a type).
 */
export function appliedJobTypes(
  rows: readonly JobTypeRow[],
  now = Date.now(),
): { applied: JobTypeRow; versions: JobTypeRow[] }[] {
  const grouped = new Map<string, JobTypeRow[]>();
  for (const row of rows) grouped.set(row.name, [...(grouped.get(row.name) ?? []), row]);
  return [...grouped.values()].flatMap((versions) => {
    const applied = appliedVersion(versions, now);
    return applied ? [{ applied, versions }] : [];
  });
}

/** The applied version of the type `name`, or undefined if no worker registered it. */
export async function readAppliedJobType(
  db: Pick<Db, 'select'>,
  name: string,
): Promise<JobTypeRow | undefined> {
  const versions = await db
    .select()
    .from(jobTypes)
    .where(eq(jobTypes.name, name))
    .orderBy(sql`${jobTypes.registeredAt} desc`);
  return appliedVersion(versions);
}
