import { type Database, registerJobTypes } from '@conveyor/core/db';
import type { JobTypeRegistration } from '@conveyor/core/jobs';
import type { Logger } from '@conveyor/core/log';

export interface TypeRegistrar {
  /** Resolves once the types are registered (retried until Postgres answers). */
  readonly registered: Promise<void>;
  close(): void;
}

/** How soon a failed registration is tried again, while none has succeeded yet. */
const RETRY_MS = 2_000;

/**
 * Registers the job types this worker serves in Postgres, then says again every
 * `heartbeatMs` that it serves them (their `last_seen_at`), so `GET /v1/job-types` shows
 * when a worker last served each type, and runs `afterRegister` each time. A failure is
 * logged and tried again; it never stops the worker.
 */
export function startTypeRegistrar({
  database,
  registrations,
  logger,
  heartbeatMs = 30_000,
  afterRegister = async () => {},
}: {
  database: Database;
  registrations: readonly JobTypeRegistration[];
  logger: Logger;
  /**
   * Runs after each registration (the queues' declared limits are applied from the registry);
   * a failure is logged and it runs again with the next. @defaultValue nothing
   */
  afterRegister?: () => Promise<void>;
  /** @defaultValue 30 s */
  heartbeatMs?: number;
}): TypeRegistrar {
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let done = false;
  let resolveRegistered = () => {};
  const registered = new Promise<void>((resolve) => {
    resolveRegistered = resolve;
  });

  const schedule = (ms: number) => {
    if (closed) return;
    timer = setTimeout(() => void beat(), ms);
    timer.unref();
  };
  const beat = async () => {
    try {
      await registerJobTypes(database.db, registrations);
      await afterRegister();
      if (!done) {
        done = true;
        logger.info({ types: registrations.map((r) => `${r.name}@${r.version}`) }, 'job types registered');
        resolveRegistered();
      }
      schedule(heartbeatMs);
    } catch (error) {
      logger.warn({ err: error }, 'registering job types failed; trying again');
      schedule(done ? heartbeatMs : RETRY_MS);
    }
  };
  void beat();
  return {
    registered,
    close() {
      closed = true;
      clearTimeout(timer);
      resolveRegistered();
    },
  };
}
