import { ConveyorError } from '@conveyor/core/errors';
import type { Logger } from '@conveyor/core/log';
import type { RedisClient } from '@conveyor/core/redis';
import type { MiddlewareHandler } from 'hono';
import type { ApiEnv } from '../api-env.js';

/**
 * Token bucket in Redis, so every API replica draws from the same bucket. Time comes from
 * Redis (TIME), not from each replica's clock. Returns {allowed, tokens left (string)}.
 */
const TAKE_TOKEN = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or burst
local at = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
`;

type TakeToken = (key: string, rate: number, burst: number) => Promise<[number, string]>;

/**
 * Limits each principal to `perSecond` requests per second with bursts of `burst`, and
 * sets RateLimit-Limit / -Remaining / -Reset on every response; 429 with Retry-After when
 * the bucket is empty. If Redis cannot answer, requests pass (the limiter fails open).
 */
export function rateLimit({
  redis,
  prefix,
  perSecond,
  burst,
  logger,
}: {
  redis: RedisClient;
  prefix: string;
  perSecond: number;
  burst: number;
  logger: Logger;
}): MiddlewareHandler<ApiEnv> {
  redis.defineCommand('conveyorTakeToken', { numberOfKeys: 1, lua: TAKE_TOKEN });
  const take = (redis as unknown as { conveyorTakeToken: TakeToken }).conveyorTakeToken.bind(redis);
  return async (c, next) => {
    const principal = c.get('principal');
    if (!principal || perSecond <= 0) return next();
    const rate = principal.rateLimitPerSecond ?? perSecond;
    let result: [number, string];
    try {
      result = await take(`${prefix}:ratelimit:${principal.subject}`, rate, burst);
    } catch (error) {
      logger.warn({ err: error }, 'rate limiter unavailable; letting the request through');
      return next();
    }
    const [allowed, left] = result;
    const tokens = Number(left);
    c.header('RateLimit-Limit', String(burst));
    c.header('RateLimit-Remaining', String(Math.floor(tokens)));
    c.header('RateLimit-Reset', String(Math.ceil((burst - tokens) / rate)));
    if (allowed !== 1) {
      const retryAfter = Math.max(1, Math.ceil((1 - tokens) / rate));
      // app.onError turns details.retryAfter into the Retry-After header, as for every 429.
      throw new ConveyorError(
        'RATE_LIMITED',
        `rate limit of ${rate} requests/s exceeded; retry in ${retryAfter} s`,
        { retryable: true, details: { retryAfter } },
      );
    }
    return next();
  };
}
