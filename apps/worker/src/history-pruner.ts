import { type Database, pruneHistory } from '@conveyor/core/db';
import type { Logger } from '@conveyor/core/log';

export interface HistoryPruner {
  /** Prunes once now; resolves with the rows deleted, or null if another process was pruning. */
  runOnce(now?: Date): Promise<number | null>;
  close(): void;
}

/**
 * Deletes job history older than `retentionDays`, every `intervalMs` (first run after a
 * random part of it, so replicas started together do not all try at once).
 */
export function startHistoryPruner({
  database,
  logger,
  retentionDays,
  intervalMs = 3_600_000,
}: {
  database: Database;
  logger: Logger;
  /** 0 keeps history forever. */
  retentionDays: number;
  /** @defaultValue 1 hour */
  intervalMs?: number;
}): HistoryPruner {
  const runOnce = async (now = new Date()) => {
    const olderThan = new Date(now.getTime() - retentionDays * 86_400_000);
    const deleted = await pruneHistory(database, olderThan);
    if (deleted) logger.info({ deleted, olderThan }, 'pruned job history');
    return deleted;
  };
  let timer: NodeJS.Timeout | undefined;
  const schedule = (delay: number) => {
    timer = setTimeout(() => {
      runOnce()
        .catch((error: unknown) => logger.warn({ err: error }, 'pruning job history failed'))
        .finally(() => schedule(intervalMs));
    }, delay);
    timer.unref();
  };
  if (retentionDays > 0) schedule(Math.floor(Math.random() * intervalMs));
  return {
    runOnce,
    close: () => clearTimeout(timer),
  };
}
