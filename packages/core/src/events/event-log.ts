import { ConveyorError } from '../errors/index.js';
import type { RedisClient } from '../redis/connect.js';
import type { StatusEvent } from './status-event.js';

/**
 * Each tenant's recent status events, as one Redis Stream: every event gets the id of its
 * entry (`<ms>-<n>`, increasing within the tenant), which SSE sends as `id:` and a
 * reconnecting client hands back (Last-Event-ID, a WebSocket's `after`) to be replayed what
 * it missed. The stream keeps about the last `count` events (approximate trimming: a few
 * more, never fewer) and is dropped `maxAgeMs` after the tenant's last event; a replay never
 * reaches further back than `maxAgeMs`.
 */
export interface EventRetention {
  /** Events kept per tenant (EVENT_RETENTION_COUNT). @defaultValue 10,000 */
  count: number;
  /** How far back a replay reaches (EVENT_RETENTION_MS). @defaultValue 10 minutes */
  maxAgeMs: number;
}

export const DEFAULT_EVENT_RETENTION: EventRetention = { count: 10_000, maxAgeMs: 600_000 };

/**
 * The stream key of a tenant's events. It shares its hash tag with the tenant's channel
 * (`eventChannels(prefix).tenant`), so on a cluster one script appends and publishes.
 */
export function eventLogKey(prefix: string, tenant: string): string {
  return `${prefix}:events:{${tenant}}:log`;
}

const EVENT_ID = /^(\d{1,15})-(\d{1,19})$/;

/** Whether `id` is shaped like an event id (`<ms>-<n>`); says nothing of whether it exists. */
export function isEventId(id: string): boolean {
  return EVENT_ID.test(id);
}

/** Orders two event ids: negative when `a` came first, 0 when equal, positive after. */
export function compareEventIds(a: string, b: string): number {
  const [am = '', an = ''] = a.split('-');
  const [bm = '', bn = ''] = b.split('-');
  const byTime = am.length - bm.length || (am < bm ? -1 : am > bm ? 1 : 0);
  if (byTime !== 0) return byTime;
  return an.length - bn.length || (an < bn ? -1 : an > bn ? 1 : 0);
}

/** The JSON of an event stored without its id, with `id` put first: what SSE and the hub see. */
export function withEventId(id: string, json: string): string {
  return `{"id":${JSON.stringify(id)},${json.slice(1)}`;
}

/**
 * KEYS: the log. ARGV: the event's JSON (no id), count, age, PUBLISH or SPUBLISH, then the
 * channels. Appends, trims, refreshes the expiry and publishes the event with its id in one
 * step, so subscribers see a tenant's events in the log's order. Answers the id.
 */
const APPEND = `
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local payload = '{"id":"' .. id .. '",' .. string.sub(ARGV[1], 2)
for i = 5, #ARGV do redis.call(ARGV[4], ARGV[i], payload) end
return id
`;

/**
 * KEYS: the log. ARGV: the id read after, most entries, age. Answers {1, last id, entries}
 * when nothing after the id was trimmed away (the id is still there, or is the last one
 * trimmed), else {0, last id}: the id is older than the window, was never this tenant's, or
 * the log was lost (a Redis restart without persistence).
 */
const READ_AFTER = `
local after = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, '0-0'} end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local last, deleted = '0-0', '0-0'
for i = 1, #info, 2 do
  if info[i] == 'last-generated-id' then last = info[i + 1] end
  if info[i] == 'max-deleted-entry-id' then deleted = info[i + 1] end
end
local now = redis.call('TIME')
local nowMs = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local afterMs = tonumber(string.match(after, '^(%d+)'))
if afterMs < nowMs - tonumber(ARGV[3]) then return {0, last} end
if deleted ~= after and #redis.call('XRANGE', KEYS[1], after, after) == 0 then return {0, last} end
return {1, last, redis.call('XRANGE', KEYS[1], '(' .. after, '+', 'COUNT', ARGV[2])}
`;

type Append = (key: string, ...args: (string | number)[]) => Promise<string>;
type ReadAfter = (
  key: string,
  after: string,
  count: number,
  maxAgeMs: number,
) => Promise<[0, string] | [1, string, [string, string[]][]]>;

/** What a client that last saw an event id missed. */
export type CatchUp =
  /** Every event of the tenant after the id, in order; `through` is the last one's id (or the id). */
  | { complete: true; events: StatusEvent[]; through: string }
  /**
   * Some of what followed the id is gone (older than the window, or never this tenant's):
   * the client must re-read state. `through` is the log's last id when this was read.
   */
  | { complete: false; events: []; through: string };

/** Entries read per round trip of a catch-up. */
const PAGE = 1_000;

/** A deployment's (one prefix's) tenant event logs. */
export interface EventLog {
  readonly retention: EventRetention;
  /**
   * Appends an event (its JSON, without id) to its tenant's log and publishes it, with its id, to `channels`
   * (through PUBLISH, or SPUBLISH on a cluster, where they must share the log's hash tag).
   * Resolves with the id.
   */
  append(tenant: string, json: string, channels: string[], command: 'publish' | 'spublish'): Promise<string>;
  /**
   * The tenant's events after `after` (an id this log gave), at most `retention.count`.
   * Throws VALIDATION_FAILED naming `field` when `after` is not an event id.
   */
  catchUp(tenant: string, after: string, field: string): Promise<CatchUp>;
  /** The id of the tenant's last event, or `0-0` when it has none in the window. */
  lastId(tenant: string): Promise<string>;
}

export function createEventLog(
  redis: RedisClient,
  prefix: string,
  retention: EventRetention = DEFAULT_EVENT_RETENTION,
): EventLog {
  redis.defineCommand('conveyorAppendEvent', { numberOfKeys: 1, lua: APPEND });
  redis.defineCommand('conveyorReadEventsAfter', { numberOfKeys: 1, lua: READ_AFTER });
  const commands = redis as unknown as { conveyorAppendEvent: Append; conveyorReadEventsAfter: ReadAfter };
  const appendScript = commands.conveyorAppendEvent.bind(redis);
  const readAfter = commands.conveyorReadEventsAfter.bind(redis);
  return {
    retention,
    append(tenant, json, channels, command) {
      return appendScript(
        eventLogKey(prefix, tenant),
        json,
        retention.count,
        retention.maxAgeMs,
        command.toUpperCase(),
        ...channels,
      );
    },
    async catchUp(tenant, after, field) {
      if (!isEventId(after)) {
        throw new ConveyorError(
          'VALIDATION_FAILED',
          `invalid input: ${field}: must be an event id as the stream sent it (<ms>-<n>, e.g. 1764201600000-0), got ${JSON.stringify(after.slice(0, 64))}`,
          { issues: [{ path: field, message: 'must be an event id (<ms>-<n>)' }] },
        );
      }
      const key = eventLogKey(prefix, tenant);
      const events: StatusEvent[] = [];
      let through = after;
      for (;;) {
        const answer = await readAfter(key, through, PAGE, retention.maxAgeMs);
        // Trimmed while being read (more than `count` events since the read began): what is
        // left is no longer every event after `after`.
        if (answer[0] === 0) return { complete: false, events: [], through: answer[1] };
        const entries = answer[2];
        for (const [id, fields] of entries) {
          events.push(JSON.parse(withEventId(id, fields[1] ?? '{}')) as StatusEvent);
          through = id;
        }
        if (entries.length < PAGE || events.length >= retention.count)
          return { complete: true, events, through };
      }
    },
    async lastId(tenant) {
      const [last] = (await redis.xrevrange(eventLogKey(prefix, tenant), '+', '-', 'COUNT', 1)) as [
        string,
        string[],
      ][];
      return last?.[0] ?? '0-0';
    },
  };
}
