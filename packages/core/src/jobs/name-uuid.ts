import { createHash } from 'node:crypto';

/**
 * A UUID (version 8, name-based) derived from `parts`: the same parts give the same id in
 * every process, so a repeated step (a retried tick, a re-run job's webhook deliveries) names the
 * same job or delivery instead of making another.
 *
 * @example
 * nameUuid('schedule', scheduleId, String(tickMillis));
 */
export function nameUuid(...parts: string[]): string {
  const hex = createHash('sha256').update(parts.join('\u0000')).digest('hex');
  const variant = ((Number.parseInt(hex[16] ?? '0', 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether `value` is a UUID (any version, either case): the form of every id in Conveyor. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}
