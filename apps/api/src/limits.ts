import type { Request, RequestHandler } from 'express';
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { sendError } from './http';

/**
 * Sliding-window counter (the two-window estimate): the count of the current window plus the previous
 * window's count weighted by how much of it still overlaps the last `window` ms. No 2x burst at a window
 * boundary as with a fixed window. One hash per subject: w = current window index, c = its count, p = the
 * previous window's count. Returns 0 (allowed; counted when ARGV[5] is 1) or the ms until `cost` more fit.
 */
const SLIDING_WINDOW_LUA = `
local now = tonumber(ARGV[1])
local win = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local record = ARGV[5] == '1'
local idx = math.floor(now / win)
local h = redis.call('HMGET', KEYS[1], 'w', 'c', 'p')
local w = tonumber(h[1]) or idx
local c = tonumber(h[2]) or 0
local p = tonumber(h[3]) or 0
if w == idx - 1 then p = c; c = 0 elseif w ~= idx then p = 0; c = 0 end
local elapsed = (now - idx * win) / win
if p * (1 - elapsed) + c + cost > limit then
  local room = limit - cost
  local wait
  if c <= room and p > 0 then
    wait = (1 - (room - c) / p) - elapsed
  elseif c > 0 and room >= 0 then
    wait = (1 - elapsed) + (1 - room / c)
  else
    wait = 2 - elapsed
  end
  return math.max(1, math.ceil(wait * win))
end
if record then
  redis.call('HSET', KEYS[1], 'w', idx, 'c', c + cost, 'p', p)
  redis.call('PEXPIRE', KEYS[1], win * 2)
end
return 0
`;

type LimiterRedis = (Redis | Cluster) & { pushfleetSlidingWindow(key: string, now: number, windowMs: number, limit: number, cost: number, record: 0 | 1): Promise<number> };

/**
 * A limit shared by every API replica through Redis: at most `limit` hits per subject in any `windowMs`
 * (sliding). Keys: `<prefix>:rl:{<name>:<subject>}` (docs/redis-keys.md), one hash per subject, expiring
 * after two windows. `limit` 0 turns it off.
 */
export class SlidingWindowLimiter {
  private readonly redis: LimiterRedis;

  constructor(redis: Redis | Cluster, private readonly o: { prefix: string; name: string; limit: number; windowMs: number }) {
    if (!('pushfleetSlidingWindow' in redis)) redis.defineCommand('pushfleetSlidingWindow', { numberOfKeys: 1, lua: SLIDING_WINDOW_LUA });
    this.redis = redis as LimiterRedis;
  }

  get enabled(): boolean { return this.o.limit > 0; }

  key(subject: string): string { return `${this.o.prefix}:rl:{${this.o.name}:${subject}}`; }

  /** Counts one hit; resolves 0 when allowed, else the seconds to wait (Retry-After). */
  hit(subject: string, now = Date.now()): Promise<number> { return this.run(subject, 1, now); }

  /** Like hit, without counting: would one more be allowed? */
  check(subject: string, now = Date.now()): Promise<number> { return this.run(subject, 0, now); }

  private async run(subject: string, record: 0 | 1, now: number): Promise<number> {
    if (!this.enabled) return 0;
    const waitMs = Number(await this.redis.pushfleetSlidingWindow(this.key(subject), now, this.o.windowMs, this.o.limit, 1, record));
    return waitMs > 0 ? Math.max(1, Math.ceil(waitMs / 1000)) : 0;
  }
}

/**
 * One warning line per interval instead of one per event, for things a flood can cause (failed
 * authentication): the first one is logged at once, later ones are counted (by reason) and reported with
 * the next line written after the interval.
 */
export class SampledWarning {
  private last = 0;
  private suppressed = new Map<string, number>();

  constructor(private readonly logger: Logger, private readonly message: string, private readonly intervalMs = 10_000) {}

  note(reason: string, fields: Record<string, unknown> = {}, now = Date.now()): void {
    if (now - this.last < this.intervalMs) {
      this.suppressed.set(reason, (this.suppressed.get(reason) ?? 0) + 1);
      return;
    }
    const suppressed = Object.fromEntries(this.suppressed);
    const total = [...this.suppressed.values()].reduce((a, b) => a + b, 0);
    this.suppressed = new Map();
    this.last = now;
    this.logger.warn({ ...fields, reason, ...(total > 0 ? { suppressed: total, suppressedByReason: suppressed, sinceMs: this.intervalMs } : {}) }, this.message);
  }
}

/** How long an address found under the failure limit is not checked again (unless it fails here). */
export const AUTH_CLEAN_TTL_MS = 1000;
const MAX_CLEAN_ADDRESSES = 10_000;

/**
 * Failed authentication per client address (`req.ip`, so TRUST_PROXY decides whether X-Forwarded-For
 * counts): past the limit every request from that address answers 429 `rate-limited` before its
 * credentials are even checked, until the window slides. Failures are logged sampled, never one line each.
 *
 * An address found under the limit is remembered as clean for AUTH_CLEAN_TTL_MS, so a busy caller (the
 * telephony backend posting one event per request) costs no Redis round trip per request; that check
 * was about a third of the API's CPU per one-event request (docs/benchmarks.md, "Session 4 findings:
 * edge"). A failure in this process forgets every clean address at once, so the limit holds here exactly;
 * failures counted by another API replica are seen here within AUTH_CLEAN_TTL_MS.
 */
export class AuthFailures {
  private clean = new Map<string, number>();
  /** Bumped by every failure: a check that was in flight across a failure does not mark its address clean. */
  private failures = 0;

  constructor(private readonly limiter: SlidingWindowLimiter, private readonly warning: SampledWarning) {}

  /** Express middleware in front of an authenticated route. A Redis error lets the request through. */
  guard(): RequestHandler {
    return (req, res, next) => {
      if (!this.limiter.enabled) return next();
      const ip = clientAddress(req);
      const now = Date.now();
      if ((this.clean.get(ip) ?? 0) > now) return next();
      const failures = this.failures;
      this.limiter.check(ip, now).then((wait) => {
        if (wait === 0) {
          if (failures === this.failures) this.markClean(ip, now);
          return next();
        }
        res.setHeader('Retry-After', String(wait));
        sendError(res, 429, 'rate-limited');
      }, () => next());
    };
  }

  /** Records one failed authentication of `req` (what was refused, never the credential). */
  failed(req: Request, route: string, reason: string): void {
    const ip = clientAddress(req);
    this.failures++;
    this.clean.clear();
    this.limiter.hit(ip).catch(() => undefined);
    this.warning.note(reason, { route, ip });
  }

  private markClean(ip: string, now: number): void {
    if (this.clean.size >= MAX_CLEAN_ADDRESSES) this.clean.clear();
    this.clean.set(ip, now + AUTH_CLEAN_TTL_MS);
  }
}

const clientAddress = (req: Request): string => req.ip ?? req.socket.remoteAddress ?? 'unknown';

/** AUTH_FAILURES_PER_MINUTE per client address, shared by the user, internal and admin routes. */
export function createAuthFailures(redis: Redis | Cluster, prefix: string, perMinute: number, logger: Logger): AuthFailures {
  return new AuthFailures(
    new SlidingWindowLimiter(redis, { prefix, name: 'authfail', limit: perMinute, windowMs: 60_000 }),
    new SampledWarning(logger, 'authentication failed'),
  );
}
