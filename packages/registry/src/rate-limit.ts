import type { Cluster, Redis } from 'ioredis';

/**
 * Fixed-window counter in Redis, shared by every API replica. Returns the seconds to wait when over the
 * limit, else 0. One round trip (INCR + PEXPIRE NX pipelined in a MULTI).
 */
export class RateLimiter {
  constructor(private readonly redis: Redis | Cluster, private readonly keyPrefix: string, private readonly limit: number, private readonly windowMs = 60_000) {}

  async hit(subject: string, now = Date.now()): Promise<number> {
    if (this.limit <= 0) return 0;
    const window = Math.floor(now / this.windowMs);
    const key = `${this.keyPrefix}${subject}:${window}`;
    const res = await this.redis.multi().incr(key).pexpire(key, this.windowMs * 2).exec();
    const count = Number(res?.[0]?.[1] ?? 0);
    if (count <= this.limit) return 0;
    return Math.max(1, Math.ceil(((window + 1) * this.windowMs - now) / 1000));
  }
}
